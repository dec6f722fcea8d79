// The grpc_bench echo workload on gRPC C++ (Debian libgrpc++): SayHello
// returns the request's Hello, through the callback API.
// Usage: cpp-echo PORT
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "helloworld.grpc.pb.h"

class Echo final : public helloworld::Greeter::CallbackService {
    grpc::ServerUnaryReactor *SayHello(grpc::CallbackServerContext *ctx, const helloworld::HelloRequest *req,
                                       helloworld::HelloReply *reply) override {
        *reply->mutable_response() = req->request();
        auto *r = ctx->DefaultReactor();
        r->Finish(grpc::Status::OK);
        return r;
    }
};

int main(int argc, char **argv) {
    std::string port = argc > 1 ? argv[1] : "50051";
    Echo svc;
    grpc::ServerBuilder b;
    int bound = 0;
    b.AddListeningPort("127.0.0.1:" + port, grpc::InsecureServerCredentials(), &bound);
    b.RegisterService(&svc);
    auto server = b.BuildAndStart();
    if (!server) return 1;
    std::printf("listening on %d\n", bound);
    std::fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread waiter([&] {
        int sig;
        sigwait(&set, &sig);
        server->Shutdown();
    });
    server->Wait();
    waiter.join();
    return 0;
}
