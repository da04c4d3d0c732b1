// gRPC interop peer: grpc-go (Debian's golang-google-grpc-dev, 1.33), no generated code.
//
//	grpc-go-client ADDR [CALLS_JSON]
//
// CALLS_JSON (read from stdin when not given: large messages overflow argv) is a JSON list
// of calls, made in order on one grpc.ClientConn (one HTTP/2 connection) unless "fresh":
//
//	{"path": "/go.micro.srv.sample.Example/Call",  // the method's path
//	 "kind": "unary" | "stream" | "bidi",          // conn.Invoke, a server or a bidi stream
//	 "hex": "0a04486f626f",                         // the request message's bytes
//	 "hexes": ["0801", "0802"],                     // bidi: the request messages' bytes
//	 "lockstep": true,                              // bidi: receive a reply after each send
//	 "codec": "proto" | "json",                     // content-type application/grpc+CODEC
//	                                                //   (omitted: bare application/grpc)
//	 "meta": [["x-request-id", "abc"],              // metadata, in order; a name ending
//	          ["trace-bin", "0001feff"]],           //   in -bin takes hex (sent as bytes)
//	 "timeout_ms": 200,                             // optional deadline
//	 "pause_ms": 600,                               // optional sleep before the call
//	 "fresh": true}                                 // on a ClientConn (connection) of its own
//
// For each call it prints one JSON line:
//
//	{"code": 0, "name": "OK", "details": "", "replies": ["0a0a...", ...], "ms": 1.2}
//
// code is the gRPC status code as grpc-go reports it, details the status message
// (percent-decoded by grpc-go), replies the hex of every message received (a stream's
// messages before its status too). Messages pass through a codec that hands []byte over as
// they are, so no protoc and no generated code are needed (grpc-go 1.33's ForceCodec does not
// set the content-subtype; CallContentSubtype does, and the forced codec takes precedence). Built in GOPATH mode against
// /usr/share/gocode (GO111MODULE=off), offline.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec passes messages through as bytes; its name is the content-subtype it sends.
type rawCodec struct{ name string }

func (c rawCodec) Marshal(v interface{}) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *p, nil
}

func (c rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (c rawCodec) Name() string { return c.name }

type call struct {
	Path      string      `json:"path"`
	Kind      string      `json:"kind"`
	Hex       string      `json:"hex"`
	Hexes     []string    `json:"hexes"`
	Lockstep  bool        `json:"lockstep"`
	Codec     string      `json:"codec"`
	Meta      [][2]string `json:"meta"`
	TimeoutMs *float64    `json:"timeout_ms"`
	PauseMs   float64     `json:"pause_ms"`
	Fresh     bool        `json:"fresh"`
}

type result struct {
	Code    uint32   `json:"code"`
	Name    string   `json:"name"`
	Details string   `json:"details"`
	Replies []string `json:"replies"`
	Ms      float64  `json:"ms"`
	// Dials is how many TCP connections the call's ClientConn had opened by its end
	// (grpc-go reconnects when a connection closes under it).
	Dials int64 `json:"dials"`
}

func one(conn *grpc.ClientConn, c call) (result, error) {
	time.Sleep(time.Duration(c.PauseMs * float64(time.Millisecond)))
	in, err := hex.DecodeString(c.Hex)
	if err != nil {
		return result{}, fmt.Errorf("hex: %v", err)
	}
	ctx := context.Background()
	if c.TimeoutMs != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*c.TimeoutMs*float64(time.Millisecond)))
		defer cancel()
	}
	for _, kv := range c.Meta {
		value := kv[1]
		if strings.HasSuffix(kv[0], "-bin") {
			raw, err := hex.DecodeString(value)
			if err != nil {
				return result{}, fmt.Errorf("meta %s: %v", kv[0], err)
			}
			value = string(raw)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, kv[0], value)
	}
	opts := []grpc.CallOption{grpc.ForceCodec(rawCodec{"proto"})}
	if c.Codec != "" {
		opts = append(opts, grpc.CallContentSubtype(c.Codec))
	}
	replies := []string{}
	start := time.Now()
	if c.Kind == "stream" {
		desc := &grpc.StreamDesc{StreamName: c.Path, ServerStreams: true}
		var stream grpc.ClientStream
		stream, err = conn.NewStream(ctx, desc, c.Path, opts...)
		if err == nil {
			err = stream.SendMsg(&in)
		}
		if err == nil {
			err = stream.CloseSend()
		}
		for err == nil {
			var out []byte
			if err = stream.RecvMsg(&out); err == nil {
				replies = append(replies, hex.EncodeToString(out))
			}
		}
		if err == io.EOF {
			err = nil
		}
	} else if c.Kind == "bidi" {
		desc := &grpc.StreamDesc{StreamName: c.Path, ServerStreams: true, ClientStreams: true}
		var stream grpc.ClientStream
		stream, err = conn.NewStream(ctx, desc, c.Path, opts...)
		recv := func() error {
			var out []byte
			err := stream.RecvMsg(&out)
			if err == nil {
				replies = append(replies, hex.EncodeToString(out))
			}
			return err
		}
		for _, h := range c.Hexes {
			if err != nil {
				break
			}
			m, herr := hex.DecodeString(h)
			if herr != nil {
				return result{}, fmt.Errorf("hexes: %v", herr)
			}
			err = stream.SendMsg(&m)
			if err == io.EOF {
				// The server ended the call: its status is RecvMsg's.
				err = nil
				break
			}
			if err == nil && c.Lockstep {
				err = recv()
			}
		}
		if err == nil {
			err = stream.CloseSend()
		}
		for err == nil {
			err = recv()
		}
		if err == io.EOF {
			err = nil
		}
	} else {
		var out []byte
		if err = conn.Invoke(ctx, c.Path, &in, &out, opts...); err == nil {
			replies = append(replies, hex.EncodeToString(out))
		}
	}
	elapsed := time.Since(start)
	st := status.Convert(err)
	return result{
		Code:    uint32(st.Code()),
		Name:    st.Code().String(),
		Details: st.Message(),
		Replies: replies,
		Ms:      float64(elapsed.Microseconds()) / 1000.0,
		Dials:   atomic.LoadInt64(dials[conn]),
	}, nil
}

// dials counts the TCP connections each ClientConn opened.
var dials = map[*grpc.ClientConn]*int64{}

// dial connects to addr (h2c), waiting up to limit for the connection to be ready (as
// grpc_health_probe does).
func dial(addr string, limit time.Duration) (*grpc.ClientConn, error) {
	count := new(int64)
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		atomic.AddInt64(count, 1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("dial (%d connections): %v", atomic.LoadInt64(count), err)
	}
	dials[conn] = count
	return conn, nil
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: grpc-go-client ADDR [CALLS_JSON]")
		os.Exit(2)
	}
	var spec []byte
	if len(os.Args) == 3 {
		spec = []byte(os.Args[2])
	} else {
		var err error
		if spec, err = io.ReadAll(os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, "grpc-go-client: stdin:", err)
			os.Exit(2)
		}
	}
	var calls []call
	if err := json.Unmarshal(spec, &calls); err != nil {
		fmt.Fprintln(os.Stderr, "grpc-go-client: CALLS_JSON:", err)
		os.Exit(2)
	}
	conn, err := dial(os.Args[1], 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-go-client:", err)
		os.Exit(1)
	}
	defer conn.Close()
	out := json.NewEncoder(os.Stdout)
	for _, c := range calls {
		var r result
		if c.Fresh {
			// A connection of its own, ready within the call's timeout (else 5 s); one
			// that never gets ready is the call's UNAVAILABLE.
			limit := 5 * time.Second
			if c.TimeoutMs != nil {
				limit = time.Duration(*c.TimeoutMs * float64(time.Millisecond))
			}
			own, derr := dial(os.Args[1], limit)
			if derr != nil {
				r = result{Code: uint32(codes.Unavailable), Name: codes.Unavailable.String(),
					Details: derr.Error(), Replies: []string{}}
			} else {
				r, err = one(own, c)
				own.Close()
			}
		} else {
			r, err = one(conn, c)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "grpc-go-client:", err)
			os.Exit(2)
		}
		if err := out.Encode(r); err != nil {
			os.Exit(1)
		}
	}
}
