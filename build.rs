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
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("mamey_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
