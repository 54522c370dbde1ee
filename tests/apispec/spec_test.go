package apispec

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// Media answers carry the sniffed type of the bytes; the description
	// says only that they are bytes.
	for _, ct := range []string{"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm", "application/octet-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// spec is an API description, loaded and valid, routed to a running
// service, that records what was called.
type spec struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	// called holds the statuses seen per operation id.
	called map[string]map[int]bool
}

// loadSpec loads docs/api/name and points it at the service on addr.
func loadSpec(t *testing.T, name, addr string) *spec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join("..", "..", "docs", "api", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI description: %v", name, err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://" + addr}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &spec{t: t, doc: doc, router: router, base: "http://" + addr, called: map[string]map[int]bool{}}
}

// authenticate stands for the service's own checks, which the test's
// requests meet or break on purpose: it sees that the credentials the
// description asks for are there and well formed.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	r := in.RequestValidationInput.Request
	switch {
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) == "" {
			return errors.New("no " + s.Name + " header")
		}
		return nil
	case s.Type == "http" && s.Scheme == "bearer":
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || strings.Count(tok, ".") != 2 {
			return errors.New("no bearer JWT")
		}
		return nil
	}
	return errors.New("unknown security scheme " + s.Type)
}

// request is one call: validRequest says whether the description allows it
// (a request sent to see an error answer may break it on purpose).
type request struct {
	method, path string
	header       http.Header
	body         []byte
	validRequest bool
}

// do validates the request against the description (it must be valid, or
// invalid, as r says), sends it and validates the answer, whose status must
// be one the operation describes. It returns the status and body.
func (s *spec) do(r request) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(r.method, s.base+r.path, bytes.NewReader(r.body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		s.t.Fatalf("%s %s: not in the description: %v", r.method, r.path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}}
	verr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case r.validRequest && verr != nil:
		s.t.Errorf("%s %s: the description refuses a request the test means to be valid: %v", r.method, r.path, verr)
	case !r.validRequest && verr == nil:
		s.t.Errorf("%s %s: the description allows a request the test means to be invalid", r.method, r.path)
	}
	// ValidateRequest read the body; send it afresh.
	req.Body = io.NopCloser(bytes.NewReader(r.body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		s.t.Errorf("%s %s: answer %d does not fit the description: %v\nbody: %.400s", r.method, r.path, resp.StatusCode, err, body)
	}
	op := route.Operation.OperationID
	if s.called[op] == nil {
		s.called[op] = map[int]bool{}
	}
	s.called[op][resp.StatusCode] = true
	return resp.StatusCode, body
}

// checkCoverage fails for every described operation that was not called,
// and logs the described answers not seen.
func (s *spec) checkCoverage() {
	s.t.Helper()
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			seen := s.called[op.OperationID]
			if len(seen) == 0 {
				s.t.Errorf("%s %s (%s): described but never called", method, path, op.OperationID)
				continue
			}
			var missing []string
			for code := range op.Responses.Map() {
				if n, err := strconv.Atoi(code); err == nil && !seen[n] {
					missing = append(missing, code)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				s.t.Logf("%s %s: answers described and not seen here: %s", method, path, strings.Join(missing, " "))
			}
		}
	}
}

// checkRoutes fails for every route the service's code registers on its
// mux (calls of HandleFunc or Handle with a "METHOD /path" literal in the
// given package directories) that the description lacks; routes under an
// excluded prefix are left out. /metrics is added: the service's worker
// serves it in front of the mux.
func (s *spec) checkRoutes(dirs []string, exclude ...string) {
	s.t.Helper()
	patterns := []string{"GET /metrics"}
	for _, dir := range dirs {
		patterns = append(patterns, registeredPatterns(s.t, dir)...)
	}
	if len(patterns) < 3 {
		s.t.Fatalf("found only %v registered in %v: the route scan is broken", patterns, dirs)
	}
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			s.t.Errorf("route %q registered without a method", p)
			continue
		}
		if slices.ContainsFunc(exclude, func(x string) bool { return strings.HasPrefix(path, x) }) {
			continue
		}
		item := s.doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			s.t.Errorf("the service registers %s %s, which the description lacks", method, path)
		}
	}
}

// registeredPatterns lists the string literals passed as the first argument
// of HandleFunc or Handle in the non-test Go files of dir.
func registeredPatterns(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if p, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, p)
				}
			}
			return true
		})
	}
	return out
}
