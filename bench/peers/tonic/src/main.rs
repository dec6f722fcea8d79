//! The grpc_bench echo workload on tonic: SayHello returns the request's Hello.
//! Usage: tonic-echo PORT   (worker threads: TOKIO_WORKER_THREADS, default = cores)
use tonic::{transport::Server, Request, Response, Status};

pub mod helloworld {
    tonic::include_proto!("helloworld");
}
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

#[derive(Default)]
struct Echo;

#[tonic::async_trait]
impl Greeter for Echo {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply { response: req.into_inner().request }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(50051);
    let addr = format!("127.0.0.1:{port}").parse()?;
    println!("listening on {port}");
    Server::builder()
        .add_service(GreeterServer::new(Echo))
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
