//! The gateway supervisor, the chat passthrough and the model forwarder, against a fake
//! gateway (`gateway/fake_gateway.py`, run with python3) and in-process fake model upstreams.

#[path = "gateway/binary.rs"]
mod binary;
#[path = "gateway/common.rs"]
mod common;
#[path = "gateway/forwarder.rs"]
mod forwarder;
#[path = "gateway/launch.rs"]
mod launch;
#[path = "gateway/passthrough.rs"]
mod passthrough;
#[path = "gateway/supervisor.rs"]
mod supervisor;
