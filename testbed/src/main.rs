//! `testbed`: starts local Tessera clusters and runs chaos against them. The cluster commands
//! arrive with multi-node support; until then it says so instead of pretending.

fn main() -> std::process::ExitCode {
    eprintln!("testbed: local clusters need multi-node Tessera, which is not built yet");
    std::process::ExitCode::from(2)
}
