package api_test

// The spec declares what the server sends. Every response the suite
// produces through an env's handler (e.do, e.from, the browser test's
// server) is recorded as (operation, status, header names, media type);
// once every test has run, TestMain compares the lot with the OpenAPI
// document and fails the run on any status, header or body media type it
// does not declare for the operation, and on a problem body without the
// status, title and detail ErrorModel requires. The document compared is
// the live api.OpenAPI(), which TestCommittedSpecIsCurrent holds byte for
// byte equal to openapi.yaml. Routes Huma does not serve (/healthz,
// /readyz, /metrics, /docs, /openapi.*) are outside the spec: listed,
// not compared.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"taskd/api"
)

// plumbingHeaders are HTTP's own framing and negotiation headers, which
// an OpenAPI document does not declare (Content-Type is checked apart,
// against the response's declared media types).
var plumbingHeaders = []string{
	"Connection",
	"Content-Length",
	"Content-Type",
	"Date",
	"Transfer-Encoding",
	"Vary",
}

// specCheckedRun runs the tests, then the comparison.
type specCheckedRun struct{ m *testing.M }

func (r specCheckedRun) Run() int {
	code := r.m.Run()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return code // a fuzzing worker: its inputs are the fuzzer's, not the suite's
	}
	if !recorded.check(os.Stdout) && code == 0 {
		code = 1
	}
	return code
}

// observation is one distinct response the suite saw.
type observation struct {
	method, pattern string // pattern: the spec path the request routed to, "" for none
	path            string // the request's path, for responses outside the spec
	status          int
	headers         string // sorted, lower case, comma separated
	mediaType       string // the body's media type, "" without a body
	problemFault    string // what a problem+json body lacks of ErrorModel's required fields
}

type responseLog struct {
	mu   sync.Mutex
	seen map[observation]int
}

var recorded = &responseLog{seen: map[observation]int{}}

// specRoutes routes a request the way the API's mux does, to the spec
// path of the operation that answers it.
var specRoutes = sync.OnceValue(func() *http.ServeMux {
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	mux := http.NewServeMux()
	for path, item := range humaAPI.OpenAPI().Paths {
		for method := range operationsOf(item) {
			mux.Handle(method+" "+path, http.NotFoundHandler())
		}
	}
	return mux
})

func operationsOf(item *huma.PathItem) map[string]*huma.Operation {
	ops := map[string]*huma.Operation{}
	for method, op := range map[string]*huma.Operation{
		http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
		http.MethodPatch: item.Patch, http.MethodDelete: item.Delete, http.MethodHead: item.Head,
	} {
		if op != nil {
			ops[method] = op
		}
	}
	return ops
}

// recordResponses wraps a handler so that its responses are recorded.
func recordResponses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := observation{method: r.Method}
		if _, pattern := specRoutes().Handler(r); pattern != "" {
			o.pattern = pattern[strings.IndexByte(pattern, ' ')+1:]
		} else {
			o.path = r.URL.Path // /healthz, /docs...: outside the spec
		}
		c := &capture{ResponseWriter: w}
		next.ServeHTTP(c, r)
		if c.status == 0 {
			c.snapshot(http.StatusOK)
		}
		o.status = c.status
		o.headers = c.headers
		if c.bytes > 0 {
			o.mediaType, _, _ = mime.ParseMediaType(c.contentType)
		}
		if o.mediaType == "application/problem+json" {
			o.problemFault = problemFault(c.body.Bytes(), c.status)
		}
		recorded.mu.Lock()
		recorded.seen[o]++
		recorded.mu.Unlock()
	})
}

// capture notes the status and the headers as they are when the status
// is written, and whether a body follows.
type capture struct {
	http.ResponseWriter
	status      int
	headers     string
	contentType string
	bytes       int
	body        bytes.Buffer // a problem's body, to check its required fields
}

func (c *capture) snapshot(status int) {
	c.status = status
	names := make([]string, 0, len(c.Header()))
	for name := range c.Header() {
		names = append(names, strings.ToLower(name))
	}
	slices.Sort(names)
	c.headers = strings.Join(names, ",")
	c.contentType = c.Header().Get("Content-Type")
}

func (c *capture) WriteHeader(status int) {
	if c.status == 0 && status >= 200 {
		c.snapshot(status)
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.snapshot(http.StatusOK)
	}
	c.bytes += len(b)
	if strings.HasPrefix(c.contentType, "application/problem+json") && c.body.Len() < 1<<16 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}

// Flush and FlushError let a streaming handler flush through the
// recorder (http.ResponseController finds them first).
func (c *capture) Flush() { _ = c.FlushError() }

func (c *capture) FlushError() error {
	if c.status == 0 {
		c.snapshot(http.StatusOK)
	}
	return http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// problemFault names what a problem body lacks of the fields ErrorModel
// requires (status, the response's; title and detail, not empty).
func problemFault(body []byte, status int) string {
	var p struct {
		Status *int    `json:"status"`
		Title  *string `json:"title"`
		Detail *string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "a problem body that is not JSON"
	}
	var faults []string
	if p.Status == nil || *p.Status != status {
		faults = append(faults, "status")
	}
	if p.Title == nil || *p.Title == "" {
		faults = append(faults, "title")
	}
	if p.Detail == nil || *p.Detail == "" {
		faults = append(faults, "detail")
	}
	if len(faults) == 0 {
		return ""
	}
	return "a problem body without a right " + strings.Join(faults, ", ")
}

// check compares what was recorded with the spec, writes its findings to
// w and reports whether everything seen is declared.
func (l *responseLog) check(w io.Writer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return true
	}
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	spec := humaAPI.OpenAPI()
	ignored := map[string]bool{}
	for _, h := range plumbingHeaders {
		ignored[strings.ToLower(h)] = true
	}

	declaredPairs := 0
	for _, item := range spec.Paths {
		for _, op := range operationsOf(item) {
			for status := range op.Responses {
				if status != "default" {
					declaredPairs++
				}
			}
		}
	}

	pairs := map[string]bool{}   // operation status, seen
	triples := map[string]bool{} // operation status header, seen
	statuses := map[string]bool{}
	details := map[string]bool{} // headers, media types and problem bodies of declared statuses
	outside := map[string]int{}
	for o, n := range l.seen {
		if o.pattern == "" {
			outside[fmt.Sprintf("%s %s %d", o.method, o.path, o.status)] += n
			continue
		}
		method := o.method
		if method == http.MethodHead {
			method = http.MethodGet // the mux answers HEAD with the GET operation
		}
		op := operationsOf(spec.Paths[o.pattern])[method]
		name := op.OperationID + " (" + method + " " + o.pattern + ")"
		status := strconv.Itoa(o.status)
		pairs[op.OperationID+" "+status] = true
		resp := op.Responses[status]
		if resp == nil {
			statuses[fmt.Sprintf("%s: status %s", name, status)] = true
			continue
		}
		declared := map[string]bool{}
		for h := range resp.Headers {
			declared[strings.ToLower(h)] = true
		}
		for _, h := range strings.Split(o.headers, ",") {
			if h == "" || ignored[h] {
				continue
			}
			triples[op.OperationID+" "+status+" "+h] = true
			if !declared[h] {
				details[fmt.Sprintf("%s: status %s: header %s", name, status, http.CanonicalHeaderKey(h))] = true
			}
		}
		if o.mediaType != "" && resp.Content[o.mediaType] == nil {
			details[fmt.Sprintf("%s: status %s: a body of media type %s", name, status, o.mediaType)] = true
		}
		if o.problemFault != "" {
			details[fmt.Sprintf("%s: status %s: %s", name, status, o.problemFault)] = true
		}
	}

	fmt.Fprintf(w, "spec check: %d (operation, status) pairs seen of %d declared; %d (operation, status, header) triples seen; "+
		"headers not compared (HTTP plumbing): %s\n", len(pairs), declaredPairs, len(triples), strings.Join(plumbingHeaders, ", "))
	if len(outside) > 0 {
		fmt.Fprintf(w, "spec check: answered outside the spec (no operation): %s\n", strings.Join(slices.Sorted(maps.Keys(outside)), "; "))
	}
	if len(statuses)+len(details) == 0 {
		return true
	}
	fmt.Fprintf(w, "FAIL: the suite saw responses openapi.yaml does not declare: %d (operation, status) pairs; "+
		"%d headers, media types or problem bodies of declared ones:\n", len(statuses), len(details))
	for _, u := range slices.Sorted(maps.Keys(statuses)) {
		fmt.Fprintln(w, "  "+u)
	}
	for _, u := range slices.Sorted(maps.Keys(details)) {
		fmt.Fprintln(w, "  "+u)
	}
	return false
}
