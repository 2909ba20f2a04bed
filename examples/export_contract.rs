//! Writes the quickstart service's contract files — `robot.contract.json`, `robot.ts` (a
//! typed client and handlers for `livekit-client`), `robot.openai-tools.json` and
//! `robot.mcp-tools.json` — into a directory.
//!
//! Run with `cargo run --example export_contract -- <dir>`.

#[allow(dead_code)]
#[path = "quickstart.rs"]
mod quickstart;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example export_contract -- <dir>");
        std::process::exit(2);
    };
    let contracts = [quickstart::RobotServer::contract()];
    match livekit_typed_rpc::contract::write_all(&dir, &contracts) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
        }
        Err(e) => {
            eprintln!("export failed: {e}");
            std::process::exit(1);
        }
    }
}
