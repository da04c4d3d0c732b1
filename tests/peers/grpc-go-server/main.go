// gRPC interop peer: a grpc-go server (Debian's golang-google-grpc-dev, 1.33), no generated
// code.
//
//	grpc-go-server
//
// Serves go.micro.srv.sample.Example on 127.0.0.1 (a free port) through
// grpc.UnknownServiceHandler with a codec that passes messages through as bytes
// (grpc.CustomCodec: 1.33 has no ForceServerCodec), and prints the port as its stdout's first
// line:
//
//	Call    proto (field 1 string name -> field 1 string "Hello " + name), or JSON when the
//	        x-content-type metadata (or the content-subtype) names json ({"name"} -> {"msg"});
//	        an empty name: INVALID_ARGUMENT with the go-micro error JSON as the message
//	Plain   NOT_FOUND with a plain (non-JSON) message
//	Slow    answers after 2 s (an empty message), or when the call ends
//	Stream  StreamingRequest{count: N} -> N messages StreamingResponse{count: i}, i = 0..N-1,
//	        in proto or (as Call) in JSON
//	Die     2 messages, then waits (30 s at most) for "die" on stdin
//	PingPong  bidirectional: each Ping{stroke} back as a Pong{stroke} as it comes, in proto
//	        or (as Call) in JSON
//
// Stdin, one command a line: "die" ends the process at once (os.Exit: every connection closes
// mid-stream), "goaway" calls GracefulStop (GOAWAY; in-flight calls finish) and exits when it
// returns. EOF on stdin stops the server and exits. Built in GOPATH mode against
// /usr/share/gocode (GO111MODULE=off), offline.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const service = "go.micro.srv.sample.Example"

const badName = `{"id":"go.micro.srv.sample","code":400,"detail":"name must not be empty","status":"Bad Request"}`

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *p, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) String() string { return "proto" }

// field is the last value of field number in a proto message: a varint's value, or a
// length-delimited field's bytes.
func field(data []byte, number uint64) (uint64, []byte, bool) {
	var (
		num   uint64
		bytes []byte
		found bool
	)
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, nil, false
		}
		data = data[n:]
		var (
			v uint64
			b []byte
		)
		switch key & 7 {
		case 0:
			v, n = binary.Uvarint(data)
			if n <= 0 {
				return 0, nil, false
			}
			data = data[n:]
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || uint64(len(data)-n) < l {
				return 0, nil, false
			}
			b = data[n : n+int(l)]
			data = data[n+int(l):]
		case 1:
			if len(data) < 8 {
				return 0, nil, false
			}
			data = data[8:]
		case 5:
			if len(data) < 4 {
				return 0, nil, false
			}
			data = data[4:]
		default:
			return 0, nil, false
		}
		if key>>3 == number {
			num, bytes, found = v, b, true
		}
	}
	return num, bytes, found
}

func isJSON(stream grpc.ServerStream) bool {
	md, _ := metadata.FromIncomingContext(stream.Context())
	for _, name := range []string{"x-content-type", "content-type"} {
		for _, v := range md.Get(name) {
			if strings.Contains(v, "json") {
				return true
			}
		}
	}
	return false
}

func send(stream grpc.ServerStream, b []byte) error {
	return stream.SendMsg(&b)
}

var die = make(chan struct{})

// pingPong echoes each Ping's stroke as a Pong, as it comes, until the client's side ends.
func pingPong(stream grpc.ServerStream) error {
	asJSON := isJSON(stream)
	for {
		var req []byte
		if err := stream.RecvMsg(&req); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		var out []byte
		if asJSON {
			var in struct {
				Stroke int64 `json:"stroke"`
			}
			if err := json.Unmarshal(req, &in); err != nil {
				return status.Errorf(codes.InvalidArgument, "bad JSON: %v", err)
			}
			out, _ = json.Marshal(map[string]int64{"stroke": in.Stroke})
		} else if stroke, _, _ := field(req, 1); stroke != 0 {
			out = binary.AppendUvarint([]byte{0x08}, stroke)
		}
		if err := send(stream, out); err != nil {
			return err
		}
	}
}

func handle(_ interface{}, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	prefix := "/" + service + "/"
	if !strings.HasPrefix(full, prefix) {
		return status.Errorf(codes.Unimplemented, "unknown service in %s", full)
	}
	if strings.TrimPrefix(full, prefix) == "PingPong" {
		return pingPong(stream)
	}
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	switch strings.TrimPrefix(full, prefix) {
	case "Call":
		var name string
		asJSON := isJSON(stream)
		if asJSON {
			var in struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(req, &in); err != nil {
				return status.Errorf(codes.InvalidArgument, "bad JSON: %v", err)
			}
			name = in.Name
		} else {
			_, b, _ := field(req, 1)
			name = string(b)
		}
		if name == "" {
			return status.Error(codes.InvalidArgument, badName)
		}
		msg := "Hello " + name
		if asJSON {
			out, _ := json.Marshal(map[string]string{"msg": msg})
			return send(stream, out)
		}
		out := append([]byte{0x0a}, binary.AppendUvarint(nil, uint64(len(msg)))...)
		return send(stream, append(out, msg...))
	case "Plain":
		return status.Error(codes.NotFound, "no such thing")
	case "Slow":
		select {
		case <-time.After(2 * time.Second):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
		return send(stream, []byte{})
	case "Stream":
		if isJSON(stream) {
			var in struct {
				Count int64 `json:"count"`
			}
			if err := json.Unmarshal(req, &in); err != nil {
				return status.Errorf(codes.InvalidArgument, "bad JSON: %v", err)
			}
			for i := int64(0); i < in.Count; i++ {
				out, _ := json.Marshal(map[string]int64{"count": i})
				if err := send(stream, out); err != nil {
					return err
				}
			}
			return nil
		}
		count, _, _ := field(req, 1)
		for i := uint64(0); i < count; i++ {
			if err := send(stream, binary.AppendUvarint([]byte{0x08}, i)); err != nil {
				return err
			}
		}
		return nil
	case "Die":
		for _, m := range [][]byte{{0x08, 0x01}, {0x08, 0x02}} {
			if err := send(stream, m); err != nil {
				return err
			}
		}
		select {
		case <-die:
		case <-time.After(30 * time.Second):
		}
		return nil
	}
	return status.Errorf(codes.Unimplemented, "unknown method %s", full)
}

func main() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	s := grpc.NewServer(grpc.CustomCodec(rawCodec{}), grpc.UnknownServiceHandler(handle))
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	fmt.Println(lis.Addr().(*net.TCPAddr).Port)
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		switch strings.TrimSpace(lines.Text()) {
		case "die":
			os.Exit(0)
		case "goaway":
			s.GracefulStop()
			<-served
			os.Exit(0)
		}
	}
	s.Stop()
	<-served
}
