// Peer (ours, for bench id grpcgo-chain): the api half of a grpc-go chain. A Go net/http server
// serving go.micro.api.sample's /example/call by calling go.micro.srv.sample's Example.Call on
// the grpc-go-server peer over one shared grpc.ClientConn (h2c, grpc-go 1.33 from Debian).
//
//	grpc-chain-api ADDR SRV_ADDR        e.g. grpc-chain-api 127.0.0.1:8080 127.0.0.1:9080
//
//	GET  /example/call?name=X            -> 200 {"msg":"Hello X"}
//	POST /example/call {"name":"X"}      -> the same (what bench/post.lua sends)
//	srv's INVALID_ARGUMENT -> 400, any other call error -> 500, with the grpc-message as body.
//
// Built in GOPATH mode against /usr/share/gocode (no module proxy) by build.sh, into bench/tmp.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"benchgrpc/pb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type hello struct {
	Name string `json:"name"`
}

type reply struct {
	Msg string `json:"msg"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grpc-chain-api ADDR SRV_ADDR")
		os.Exit(2)
	}
	addr, srv := os.Args[1], os.Args[2]
	// One ClientConn for every request: one HTTP/2 connection, calls multiplexed as streams.
	conn, err := grpc.Dial(srv, grpc.WithInsecure())
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-chain-api: dial %s: %v\n", srv, err)
		os.Exit(1)
	}
	client := pb.NewExampleClient(conn)

	http.HandleFunc("/example/call", func(w http.ResponseWriter, r *http.Request) {
		var in hello
		switch r.Method {
		case http.MethodGet:
			in.Name = r.URL.Query().Get("name")
		case http.MethodPost:
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				http.Error(w, `{"id":"go.micro.api.sample","code":400,"detail":"bad json","status":"Bad Request"}`, http.StatusBadRequest)
				return
			}
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		out, err := client.Call(ctx, &pb.Request{Name: in.Name})
		if err != nil {
			code := http.StatusInternalServerError
			if status.Code(err) == codes.InvalidArgument {
				code = http.StatusBadRequest
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(status.Convert(err).Message()))
			return
		}
		body, _ := json.Marshal(reply{Msg: out.GetMsg()})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	fmt.Fprintf(os.Stderr, "grpc-chain-api: listening on %s, calling %s over gRPC\n", addr, srv)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintf(os.Stderr, "grpc-chain-api: %v\n", err)
		os.Exit(1)
	}
}
