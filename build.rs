//! Compiles the gRPC protos (`proto/mamey/**/*.proto`) with protox, a protobuf compiler written in
//! Rust, so building needs no system `protoc`; writes the descriptor set for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/mamey/v1/types.proto",
        "proto/mamey/v1/node.proto",
        "proto/mamey/v1/stream.proto",
        "proto/mamey/banking/v1/banking.proto",
        "proto/mamey/staking/v1/staking.proto",
        "proto/mamey/identity/v1/identity.proto",
        "proto/mamey/compliance/v1/compliance.proto",
        "proto/mamey/payments/v1/payments.proto",
        "proto/mamey/dex/v1/dex.proto",
        "proto/mamey/network/v1/network.proto",
        "proto/mamey/metrics/v1/metrics.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("mamey_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Every gRPC method path of every service, for the metrics' fixed label set: a module's new
    // service is counted without touching the telemetry code.
    let mut methods = Vec::new();
    for file in &descriptors.file {
        for service in &file.service {
            for method in &service.method {
                methods.push(format!(
                    "    \"/{}.{}/{}\",\n",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    methods.sort();
    std::fs::write(
        out.join("grpc_methods.rs"),
        format!(
            "/// Every method of the node's own gRPC services (generated from proto/ by build.rs).\n\
             pub const GRPC_SERVICE_METHODS: &[&str] = &[\n{}];\n",
            methods.concat()
        ),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
