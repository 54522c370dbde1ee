// Package telemetry sets up OpenTelemetry for a service as the OTel
// specification's environment variables say: the span exporter
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_* with either protocol, through
// contrib autoexport), the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, plus SDK, host and process attributes), the
// propagators (OTEL_PROPAGATORS), the sampler and the batch processor. It
// also holds the HTTP instrumentation every service shares and the slog
// handler that ties log lines to spans.
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Enabled reports whether the environment asks for spans to be exported:
// an OTLP endpoint or an exporter is named, and the SDK is not disabled.
// Without any of those tracing stays a no-op that never connects anywhere
// (autoexport alone would default to OTLP on localhost).
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// Resource describes the process: service is service.name unless
// OTEL_SERVICE_NAME sets it, OTEL_RESOURCE_ATTRIBUTES adds to it, and the
// SDK, host and process attributes are detected. The process's command line
// is left out: settings given as flags may hold secrets.
func Resource(ctx context.Context, service string) (*resource.Resource, error) {
	return resource.New(ctx,
		// Detectors apply in order, later ones winning: the environment
		// overrides the service's own name, as the specification says.
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(ServiceVersion())),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessExecutablePath(),
		resource.WithProcessOwner(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
	)
}

// Build returns the main module's version and the VCS revision the binary
// was built from ("(devel)" and "unknown" when the build did not record
// them).
func Build() (version, revision string) {
	version, revision = "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return version, revision
}

// ServiceVersion is service.version: the module version of a released
// build, else the revision a development build was made from, which is what
// tells two deployments apart.
func ServiceVersion() string {
	version, revision := Build()
	if version == "(devel)" && revision != "unknown" {
		return revision[:min(len(revision), 12)]
	}
	return version
}

// Setup installs the global propagator and tracer provider for service and
// returns the shutdown function, which flushes spans. Spans are exported
// only when Enabled; extra exporters (tests use an in-memory one) are
// added beside the configured one either way.
func Setup(ctx context.Context, service string, extra ...sdktrace.SpanExporter) (func(context.Context) error, error) {
	// W3C trace context and baggage unless OTEL_PROPAGATORS says otherwise.
	otel.SetTextMapPropagator(autoprop.NewTextMapPropagator())
	res, err := Resource(ctx, service)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES: the specification has the
		// SDK say so and carry on with what it could read.
		slog.Warn("some resource attributes were not read", "err", err)
	} else if err != nil {
		return nil, err
	}
	// The sampler (OTEL_TRACES_SAMPLER), span limits (OTEL_SPAN_*) and the
	// batch processor (OTEL_BSP_*) read the environment themselves.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if Enabled() {
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, err
		}
		if !autoexport.IsNoneSpanExporter(exp) {
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
	}
	for _, e := range extra {
		opts = append(opts, sdktrace.WithSyncer(e))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
