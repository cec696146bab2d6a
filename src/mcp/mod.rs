//! The MCP endpoint's protocol (pure, no `worker` types): JSON-RPC messages, Streamable HTTP
//! transport rules, the session object's typed protocol, method dispatch, the tools and their
//! mapping onto management API requests (`route`). The
//! HTTP entry (`api/mcp.rs`) and the Durable Object (`platform/mcp_session.rs`) are
//! thin shells over this.

pub mod jsonrpc;
#[cfg(test)]
mod robustness_tests;
pub mod route;
pub mod server;
pub mod session;
pub mod tools;
pub mod transport;
