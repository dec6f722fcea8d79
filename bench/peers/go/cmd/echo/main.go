// The grpc_bench echo workload on grpc-go: SayHello returns the request's
// Hello. Usage: echo PORT (GOMAXPROCS as the environment says).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	pb "bench/peers/go/helloworld"
)

type echo struct {
	pb.UnimplementedGreeterServer
}

func (echo) SayHello(_ context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Response: req.GetRequest()}, nil
}

func main() {
	port := "50051"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	lis, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, echo{})
	fmt.Printf("listening on %d\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		s.Stop()
	}()
	if err := s.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
