package messaging

import (
	"context"
	"net"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/takedown-pipeline/takedown/pkg/platform/messaging"

// HeaderCarrier adapts message headers to OpenTelemetry propagation. Set
// replaces an existing key: a message re-published to a retry or dead-letter
// topic carries one traceparent, never a stack of them.
type HeaderCarrier struct{ Msg *Message }

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the value of key.
func (c HeaderCarrier) Get(key string) string { return c.Msg.Header(key) }

// Set replaces key with value.
func (c HeaderCarrier) Set(key, value string) { c.Msg.SetHeader(key, value) }

// Keys lists the header keys.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(c.Msg.Headers))
	for i, h := range c.Msg.Headers {
		keys[i] = h.Key
	}
	return keys
}

func messageAttrs(msg *Message, op string, opType attribute.KeyValue) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(msg.Topic),
		semconv.MessagingOperationName(op),
		opType,
		semconv.MessagingMessageBodySize(len(msg.Value)),
	}
	if len(msg.Key) > 0 {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(string(msg.Key)))
	}
	return attrs
}

// serverAttrs names the broker a client talks to: the first bootstrap
// broker. kafka-go does not say which broker (the partition leader) served
// a request, so this is the cluster's entry point, not necessarily the
// broker that stored the message.
func serverAttrs(brokers []string) []attribute.KeyValue {
	if len(brokers) == 0 {
		return nil
	}
	host, port, err := net.SplitHostPort(brokers[0])
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(brokers[0])}
	}
	attrs := []attribute.KeyValue{semconv.ServerAddress(host)}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// clientAttrsKey carries, in a handler's context, the span attributes of
// the consumer that fetched the message (its broker and client id), which
// Tracing, a middleware that does not know the consumer, adds to the
// process span.
type clientAttrsKey struct{}

func withClientAttrs(ctx context.Context, attrs []attribute.KeyValue) context.Context {
	return context.WithValue(ctx, clientAttrsKey{}, attrs)
}

// consumerAttrs are the span attributes of a consumer with client id id
// talking to brokers.
func consumerAttrs(brokers []string, id string) []attribute.KeyValue {
	return append(serverAttrs(brokers), semconv.MessagingClientID(id))
}

// startSendSpan starts a PRODUCER span for msg, with extra attributes (the
// publisher's broker), and injects its context into the message headers.
func startSendSpan(ctx context.Context, msg *Message, extra ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "send "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messageAttrs(msg, "send", semconv.MessagingOperationTypeSend)...),
		trace.WithAttributes(extra...))
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier{Msg: msg})
	return ctx, span
}

// Tracing starts a CONSUMER "process <topic>" span for every message. The
// producer's context, taken from the headers, is both the parent (so one trace
// runs from upload to takedown) and a link, as the messaging conventions
// suggest for single-message processing. Messages fetched by a Consumer
// also carry server.address, server.port and messaging.client.id.
func Tracing(group string) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			producer := otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier{Msg: msg})
			attrs := append(messageAttrs(msg, "process", semconv.MessagingOperationTypeProcess),
				semconv.MessagingConsumerGroupName(group),
				semconv.MessagingDestinationPartitionID(strconv.Itoa(msg.Partition)),
				semconv.MessagingKafkaOffset(int(msg.Offset)),
			)
			if ca, ok := ctx.Value(clientAttrsKey{}).([]attribute.KeyValue); ok {
				attrs = append(attrs, ca...)
			}
			opts := []trace.SpanStartOption{
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(attrs...),
			}
			if sc := trace.SpanContextFromContext(producer); sc.IsValid() {
				opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
			}
			ctx, span := otel.Tracer(tracerName).Start(producer, "process "+msg.Topic, opts...)
			defer span.End()
			err := next(ctx, msg)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
	}
}
