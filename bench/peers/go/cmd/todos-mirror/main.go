// A Go mirror of the original todo-api-go-grpc service, the database-path
// baseline: plain grpc.NewServer(), GetTodos runs the original's query
// (TodosDB.todos, no filter, no sort, no limit) with the official MongoDB Go
// driver and maps each document to Response.Todo{Id: ObjectId hex, ...}.
// Reads MONGO_URI (default mongodb://127.0.0.1:27017) and SERVER_PORT
// (default 8000). On a database error the call fails (status Unknown), as
// the original's handler returned (nil, err).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"google.golang.org/grpc"

	pb "bench/peers/go/todos"
)

type todo struct {
	ID       primitive.ObjectID `bson:"_id"`
	Title    string             `bson:"title"`
	Tag      string             `bson:"tag"`
	Priority int32              `bson:"priority"`
}

type server struct {
	pb.UnimplementedTodosServer
	coll *mongo.Collection
}

func (s *server) GetTodos(ctx context.Context, _ *pb.Request) (*pb.Response, error) {
	cur, err := s.coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []todo
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	res := &pb.Response{Todos: make([]*pb.Response_Todo, 0, len(docs))}
	for _, d := range docs {
		res.Todos = append(res.Todos, &pb.Response_Todo{
			Id: d.ID.Hex(), Title: d.Title, Tag: d.Tag, Priority: d.Priority,
		})
	}
	return res, nil
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	uri := getenv("MONGO_URI", "mongodb://127.0.0.1:27017")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", getenv("SERVER_HOST", "127.0.0.1")+":"+getenv("SERVER_PORT", "8000"))
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	pb.RegisterTodosServer(s, &server{coll: client.Database(getenv("DB_NAME", "TodosDB")).Collection(getenv("DB_COLLECTION", "todos"))})
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
	_ = client.Disconnect(context.Background())
}
