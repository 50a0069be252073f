//! The command lines of the command-line guide (src/docs/cli.md), run as snapshot tests with
//! trycmd: each `console` block's `$ amps-webhooks ...` lines run from the crate's root, and
//! their output and exit code must be the ones written under them (`[..]` stands for what
//! varies: a latency, a random id, the client's words). A change of the tool's output fails
//! here until the guide says the same; `TRYCMD=overwrite` rewrites the guide's blocks.
//!
//! The guide's `sh` blocks that need a shell or a server are run by tests/cli.rs; the `text`
//! blocks are synopses, not commands.

#[test]
fn the_guides_command_lines() {
    trycmd::TestCases::new().case("src/docs/cli.md");
}
