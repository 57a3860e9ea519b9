// An MCP client built on the official Go SDK, driven by test/clients.test.ts.
//
// It reads a plan on stdin ({"calls": {tool: arguments}, "resource": uri, "prompt": {"name",
// "arguments"}}), lists the tools, calls every listed tool with its plan arguments, reads the
// resource, gets the prompt, and prints what the SDK handed back as one JSON object. A connection
// the server refuses is printed as {"error": {...}} with the HTTP status the client saw, and the
// exit code is 1.
//
//	mcp-go-client -url URL [-mode auto|legacy]    the bearer token, if any, in MCP_TOKEN
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const sdkModule = "github.com/modelcontextprotocol/go-sdk"

type plan struct {
	Calls    map[string]map[string]any `json:"calls"`
	Resource string                    `json:"resource"`
	Prompt   struct {
		Name      string            `json:"name"`
		Arguments map[string]string `json:"arguments"`
	} `json:"prompt"`
}

type call struct {
	IsError           bool   `json:"isError"`
	StructuredContent any    `json:"structuredContent"`
	Error             string `json:"error,omitempty"`
}

type report struct {
	Client          string                  `json:"client"`
	ProtocolVersion string                  `json:"protocolVersion,omitempty"`
	Tools           []string                `json:"tools,omitempty"`
	Calls           map[string]call         `json:"calls,omitempty"`
	Resource        []*mcp.ResourceContents `json:"resource,omitempty"`
	Prompt          []*mcp.PromptMessage    `json:"prompt,omitempty"`
	Error           *refusal                `json:"error,omitempty"`
}

type refusal struct {
	Status          int    `json:"status,omitempty"`
	WWWAuthenticate string `json:"wwwAuthenticate,omitempty"`
	Body            any    `json:"body,omitempty"`
	Message         string `json:"message"`
}

// bearer adds the token to every request and keeps the first refused response: the SDK reports
// a refused POST as an error string, without the server's body or WWW-Authenticate header.
type bearer struct {
	token string
	mu    sync.Mutex
	first *refusal
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil {
		var parsed any
		if json.Unmarshal(body, &parsed) != nil {
			parsed = string(body)
		}
		b.first = &refusal{Status: res.StatusCode, WWWAuthenticate: res.Header.Get("WWW-Authenticate"), Body: parsed}
	}
	return res, nil
}

func sdkVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == sdkModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func exercise(ctx context.Context, session *mcp.ClientSession, p plan, out *report) error {
	listed, err := session.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	out.Calls = map[string]call{}
	for _, tool := range listed.Tools {
		out.Tools = append(out.Tools, tool.Name)
		args := p.Calls[tool.Name]
		if args == nil {
			args = map[string]any{}
		}
		result, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tool.Name, Arguments: args})
		if err != nil {
			out.Calls[tool.Name] = call{Error: err.Error()}
			continue
		}
		out.Calls[tool.Name] = call{IsError: result.IsError, StructuredContent: result.StructuredContent}
	}
	resource, err := session.ReadResource(ctx, &mcp.ReadResourceParams{URI: p.Resource})
	if err != nil {
		return fmt.Errorf("resources/read %s: %w", p.Resource, err)
	}
	out.Resource = resource.Contents
	prompt, err := session.GetPrompt(ctx, &mcp.GetPromptParams{Name: p.Prompt.Name, Arguments: p.Prompt.Arguments})
	if err != nil {
		return fmt.Errorf("prompts/get %s: %w", p.Prompt.Name, err)
	}
	out.Prompt = prompt.Messages
	return nil
}

func run(url, mode string) (report, error) {
	out := report{Client: "go-sdk " + sdkVersion()}
	var p plan
	if err := json.NewDecoder(os.Stdin).Decode(&p); err != nil {
		return out, fmt.Errorf("reading the plan on stdin: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	auth := &bearer{token: os.Getenv("MCP_TOKEN")}
	transport := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: auth}}
	options := &mcp.ClientSessionOptions{}
	switch mode {
	case "auto":
	case "legacy":
		// The latest 2025-era version: Connect then skips server/discover and sends initialize.
		options.ProtocolVersion = "2025-11-25"
	default:
		return out, fmt.Errorf("-mode is auto or legacy, not %q", mode)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "kafscale-mcp-interop-go", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, transport, options)
	if err == nil {
		defer session.Close()
		out.ProtocolVersion = session.InitializeResult().ProtocolVersion
		err = exercise(ctx, session, p, &out)
	}
	if err != nil && auth.first != nil {
		auth.first.Message = err.Error()
		out.Error = auth.first
		return out, nil
	}
	return out, err
}

func main() {
	url := flag.String("url", "", "the server's MCP endpoint, e.g. http://127.0.0.1:8090/mcp")
	mode := flag.String("mode", "auto", "auto (2026-07-28 server/discover, else initialize) or legacy (initialize)")
	flag.Parse()
	if *url == "" {
		flag.Usage()
		os.Exit(2)
	}
	out, err := run(*url, *mode)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mcp-go-client: %v\n", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "mcp-go-client: %v\n", err)
		os.Exit(2)
	}
	if out.Error != nil {
		os.Exit(1)
	}
}
