//! The documentation cannot drift from the command line.
//!
//! Every command in a `sh` code block of the Markdown files (`README.md` and the others
//! at the root, `docs/*.md`) is checked:
//!
//! * each `gambi ...` line (and `cargo run --release -- ...`, which is the same) must parse
//!   with the real clap definition, compiled here from `src/cli/`;
//! * the safe ones run for real, with the real binary, against a hub and a fake provider
//!   on loopback: `--help` and `completions`; `hub serve` with `--dry-run` added (nothing
//!   binds, nothing is announced); `room create`, `room list` and `room get`; and
//!   `participant join` with `--dry-run` added (it probes the fake provider). The room
//!   code `K7QF2M` of the examples stands for a room the test creates. A command that
//!   names its own hub, endpoint, config environment or file, or that uses mDNS
//!   (`discover`, `--room-name`), is only parsed: it would leave the sandbox;
//! * each `curl` line is sent (by reqwest) to the test hub, with its URL's host replaced,
//!   and must succeed;
//! * `cargo` build commands and `./scripts/test` are left to CI, which runs them; any other
//!   program in a `sh` code block is an error, so that every command shown stays checked.
//!
//! A command that uses a flag of the `otel` feature (`--otlp-endpoint`) is checked by the
//! build with that feature (`scripts/test` runs this test with it too); a build without it
//! checks only that those flags are indeed missing from it.
//!
//! `docs/configuration.md` must list every `hub serve` and `participant join` flag with
//! its default, every environment variable the CLI reads and every config file key, and
//! its JSON examples must load with the real config file reader. `docs/protocol.md` must
//! list every route the hub's sources define.

// The CLI is a binary crate: its command-line definition and config file reader are
// compiled into this test from their sources, so the test checks the real ones. Most of
// what those modules define is unused here.
#[allow(dead_code, unused_imports)]
#[path = "../src/cli/mod.rs"]
mod cli;
#[allow(dead_code)]
#[path = "../src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../src/error.rs"]
mod error;
#[allow(dead_code)]
#[path = "../src/output.rs"]
mod output;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clap::CommandFactory as _;
use clap::Parser as _;
use gambi_participant::{ParticipantSession, SessionOptions};
use gambi_protocol as proto;
use gambi_test_support::{FakeProvider, TestHub};
use serde_json::{Value, json};

/// The room code the examples use; runs replace it with a real room's.
const EXAMPLE_ROOM: &str = "K7QF2M";

/// The model the examples use, as a provider lists it.
const EXAMPLE_MODEL: &str = "llama3:latest";

/// Safety net for a command that would otherwise hang on a broken build.
const PATIENCE: Duration = Duration::from_secs(30);

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files of the repository's root and of `docs/`, with their contents.
fn documents() -> Vec<(String, String)> {
    let markdown = |dir: PathBuf| -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        paths.sort();
        paths
    };
    let mut paths = markdown(root());
    paths.extend(markdown(root().join("docs")));
    assert!(paths.iter().any(|path| path.ends_with("README.md")));
    paths
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(root())
                .unwrap_or(&path)
                .display()
                .to_string();
            let text = std::fs::read_to_string(&path).expect("readable");
            (name, text)
        })
        .collect()
}

/// The text of `docs/<name>`.
fn doc(name: &str) -> String {
    std::fs::read_to_string(root().join("docs").join(name)).expect("readable")
}

/// The fenced blocks of `text` in one of `languages`, with the line each starts on.
fn blocks(text: &str, languages: &[&str]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        match &mut current {
            Some(_) if line.trim_start() == "```" => found.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {
                if let Some(language) = line.trim_start().strip_prefix("```")
                    && languages.contains(&language.trim())
                {
                    current = Some((index + 2, String::new()));
                }
            }
        }
    }
    found
}

/// A command line of a `sh` code block.
#[derive(Debug, Clone)]
struct Shown {
    /// `file:line`, for messages.
    place: String,
    /// Variables assigned before the program (`DEBUG=* gambi ...`).
    env: Vec<(String, String)>,
    /// The program.
    program: String,
    /// Its arguments.
    args: Vec<String>,
}

/// Splits a shell line into words the way `sh` would for the simple commands the docs
/// show: quotes, backslash escapes and comments. The command ends at the first `|`, `;`,
/// `&`, `<` or `>`. Expansions (`$`, backquotes) are refused, so that what the docs show
/// is what runs.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                let text = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => text.push(c),
                            Some(c) => {
                                text.push('\\');
                                text.push(c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some('$' | '`') => return Err("expansion in double quotes".into()),
                        Some(c) => text.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a trailing backslash".into()),
            },
            '$' | '`' => return Err("a shell expansion".into()),
            '#' if word.is_none() => break,
            '|' | ';' | '&' | '<' | '>' => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Every command line of the `sh` code blocks of `text` (lines ending in `\` continue).
fn shown_commands(file: &str, text: &str) -> Vec<Shown> {
    let mut shown = Vec::new();
    for (first, block) in blocks(text, &["sh", "bash", "shell"]) {
        let mut pending = String::new();
        let mut start = first;
        for (offset, line) in block.lines().enumerate() {
            if pending.is_empty() {
                start = first + offset;
            }
            if let Some(continued) = line.strip_suffix('\\') {
                pending.push_str(continued);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let place = format!("{file}:{start}");
            let mut words = words(&pending)
                .unwrap_or_else(|problem| panic!("{place}: {problem} in {pending:?}"))
                .into_iter();
            pending.clear();
            let mut env = Vec::new();
            let mut program = None;
            for word in words.by_ref() {
                match word.split_once('=') {
                    Some((name, value))
                        if !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        env.push((name.to_owned(), value.to_owned()));
                    }
                    _ => {
                        program = Some(word);
                        break;
                    }
                }
            }
            if let Some(program) = program {
                shown.push(Shown {
                    place,
                    env,
                    program,
                    args: words.collect(),
                });
            }
        }
    }
    shown
}

/// What the checks do with a command line.
#[derive(Debug)]
enum Kind {
    /// `gambi` with these arguments.
    Gambi(Vec<String>),
    /// `curl` with these arguments.
    Curl(Vec<String>),
    /// A build or test command that CI runs.
    Build,
}

fn kind(shown: &Shown) -> Kind {
    let args = shown.args.clone();
    match shown.program.as_str() {
        "gambi" => Kind::Gambi(args),
        "curl" => Kind::Curl(args),
        "cargo" if args.first().map(String::as_str) == Some("run") => {
            let split = args.iter().position(|arg| arg == "--");
            let before = &args[1..split.unwrap_or(args.len())];
            if split.is_some() && before.iter().all(|arg| arg == "--release") {
                Kind::Gambi(args[split.map_or(args.len(), |at| at + 1)..].to_vec())
            } else {
                // `cargo run -p <crate> --example ...`: the example's own test runs it.
                Kind::Build
            }
        }
        "cargo" | "./scripts/test" | "target/release/gambi-bench" => Kind::Build,
        other => panic!(
            "{}: `{other}` in a `sh` code block: only gambi, curl and build commands are \
             checked, so show other programs in prose",
            shown.place
        ),
    }
}

/// The flags that only a build with the `otel` feature has.
const OTEL_FLAGS: &[&str] = &["--otlp-endpoint"];

/// Whether this build has every flag of `args`: a command with an `otel` flag is left to
/// the build with that feature.
fn buildable(args: &[String]) -> bool {
    cfg!(feature = "otel")
        || !args.iter().any(|arg| {
            let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
            OTEL_FLAGS.contains(&flag)
        })
}

#[test]
fn the_otel_flags_exist_only_with_the_otel_feature() {
    for path in [&["hub", "serve"][..], &["participant", "join"][..]] {
        let flags: Vec<String> = subcommand(path)
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
            .collect();
        for flag in OTEL_FLAGS {
            assert_eq!(
                flags.iter().any(|known| known == flag),
                cfg!(feature = "otel"),
                "{} {flag}: OTEL_FLAGS must name exactly the flags of the otel feature",
                path.join(" ")
            );
        }
    }
}

/// Every command line of the docs.
fn all_commands() -> Vec<(Shown, Kind)> {
    let commands: Vec<(Shown, Kind)> = documents()
        .iter()
        .flat_map(|(file, text)| shown_commands(file, text))
        .map(|shown| {
            let kind = kind(&shown);
            (shown, kind)
        })
        .collect();
    assert!(
        commands.len() > 40,
        "only {} commands found",
        commands.len()
    );
    commands
}

#[test]
fn every_gambi_command_in_the_docs_parses() {
    let mut failures = Vec::new();
    let mut parsed = 0;
    for (shown, kind) in all_commands() {
        let Kind::Gambi(args) = kind else { continue };
        if !buildable(&args) {
            continue;
        }
        let argv = std::iter::once("gambi".to_owned()).chain(args.iter().cloned());
        match cli::Cli::try_parse_from(argv) {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) => {}
            Err(error) => failures.push(format!(
                "{}: gambi {}\n{error}",
                shown.place,
                args.join(" ")
            )),
        }
        parsed += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(parsed > 30, "only {parsed} gambi commands");
}

/// The arguments to run a shown `gambi` command with, or `None` when it must only be
/// parsed (see the module's documentation).
fn runnable(shown: &Shown, args: &[String]) -> Option<Vec<String>> {
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    if has("--help") || has("-h") || has("--version") || has("-V") {
        return Some(args.to_vec());
    }
    let leaves = [
        "--hub",
        "-H",
        "--endpoint",
        "-e",
        "--env",
        "--room-name",
        "--config",
    ];
    if leaves.iter().any(|flag| has(flag)) || shown.env.iter().any(|(name, _)| name == "GAMBI_ENV")
    {
        return None;
    }
    let positional: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| !arg.starts_with('-'))
        .take(2)
        .collect();
    let with_dry_run = || {
        let mut args = args.to_vec();
        if !args.iter().any(|arg| arg == "--dry-run") {
            args.push("--dry-run".into());
        }
        args
    };
    match positional.as_slice() {
        ["completions", ..] | ["room", "create" | "list" | "get"] => Some(args.to_vec()),
        ["hub", "serve"] | ["participant", "join"] => Some(with_dry_run()),
        _ => None,
    }
}

/// A sandbox for the `gambi` binary: a clean environment whose config file points at a
/// hub and a provider on loopback.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(hub_url: &str, endpoint: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("config").join("gambi");
        std::fs::create_dir_all(&config).expect("mkdir");
        let file = json!({
            "defaultEnv": "docs",
            "envs": {"docs": {"hubUrl": hub_url, "endpoint": endpoint}}
        });
        std::fs::write(config.join("config.json"), file.to_string()).expect("written");
        Self { dir }
    }

    async fn run(&self, env: &[(String, String)], args: &[String]) -> std::process::Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gambi"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tokio::time::timeout(PATIENCE, command.output())
            .await
            .expect("gambi finishes in time")
            .expect("gambi runs")
    }
}

/// A hub on loopback with room `Lab` and participant `alice` on a fake provider.
struct World {
    hub: TestHub,
    provider: FakeProvider,
    code: String,
    session: ParticipantSession,
}

impl World {
    async fn start() -> Self {
        let hub = TestHub::start().await;
        let provider = FakeProvider::builder()
            .models([EXAMPLE_MODEL, "gpt-4o-mini"])
            .start()
            .await;
        let room = gambi_client::Client::new(&hub.url())
            .expect("a hub URL")
            .rooms()
            .create(&proto::CreateRoomRequest {
                name: "Lab".into(),
                password: None,
                defaults: None,
            })
            .await
            .expect("room created")
            .data
            .room;
        let options = SessionOptions::new(
            hub.url().parse().expect("a URL"),
            &room.code,
            "alice",
            "Alice",
            EXAMPLE_MODEL,
            provider.base_url().parse().expect("a URL"),
        );
        let session = ParticipantSession::start(options)
            .await
            .expect("alice joined");
        Self {
            hub,
            provider,
            code: room.code,
            session,
        }
    }

    /// `text` with the example room code replaced by the real one.
    fn localize(&self, text: &str) -> String {
        text.replace(EXAMPLE_ROOM, &self.code)
    }

    async fn stop(self) {
        self.session.close().await;
        self.hub.stop().await;
    }
}

#[tokio::test]
async fn the_safe_gambi_commands_in_the_docs_run_against_a_hub_on_loopback() {
    let world = World::start().await;
    let sandbox = Sandbox::new(&world.hub.url(), &world.provider.base_url());
    let mut ran = BTreeSet::new();
    let mut failures = Vec::new();
    for (shown, kind) in all_commands() {
        let Kind::Gambi(args) = kind else { continue };
        if !buildable(&args) {
            continue;
        }
        let Some(args) = runnable(&shown, &args) else {
            continue;
        };
        let args: Vec<String> = args.iter().map(|arg| world.localize(arg)).collect();
        let output = sandbox.run(&shown.env, &args).await;
        if !output.status.success() {
            failures.push(format!(
                "{}: gambi {} exited with {:?}\nstdout: {}\nstderr: {}",
                shown.place,
                args.join(" "),
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let positional: Vec<String> = args
            .iter()
            .filter(|arg| !arg.starts_with('-'))
            .take(2)
            .cloned()
            .collect();
        ran.insert(positional.join(" "));
    }
    world.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for command in ["hub serve", "room create", "participant join"] {
        assert!(ran.contains(command), "no `{command}` ran: {ran:?}");
    }
}

/// A `curl` command line as a request.
#[derive(Debug)]
struct CurlRequest {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// Reads the `curl` flags the docs use; any other flag is an error, so that the request
/// sent is the one shown.
fn curl_request(place: &str, args: &[String]) -> CurlRequest {
    let mut method = None;
    let mut url = None;
    let mut headers = Vec::new();
    let mut body = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .unwrap_or_else(|| panic!("{place}: {arg} needs a value"))
        };
        match arg.as_str() {
            "-s" | "-i" | "-N" | "-si" | "-sN" => {}
            "-X" => method = Some(value()),
            "-H" => {
                let header = value();
                let (name, value) = header
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{place}: header {header:?}"));
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" => body = Some(value()),
            flag if flag.starts_with('-') => panic!("{place}: curl {flag} is not checked"),
            other => url = Some(other.to_owned()),
        }
    }
    let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
    CurlRequest {
        method: method
            .parse()
            .unwrap_or_else(|_| panic!("{place}: method {method}")),
        url: url.unwrap_or_else(|| panic!("{place}: no URL")),
        headers,
        body,
    }
}

#[tokio::test]
async fn the_curl_commands_in_the_docs_reach_real_routes() {
    let world = World::start().await;
    let client = reqwest::Client::new();
    let mut sent = 0;
    let mut failures = Vec::new();
    for (shown, kind) in all_commands() {
        let Kind::Curl(args) = kind else { continue };
        let request = curl_request(&shown.place, &args);
        let path = request
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
            .unwrap_or_else(|| panic!("{}: URL {}", shown.place, request.url));
        let url = format!("{}{}", world.hub.url(), world.localize(path));
        let mut builder = client.request(request.method.clone(), &url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = tokio::time::timeout(PATIENCE, builder.send())
            .await
            .expect("answered in time")
            .unwrap_or_else(|error| panic!("{}: {error}", shown.place));
        let status = response.status();
        // An event stream never ends: its status says enough.
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
        let body = if streaming {
            String::new()
        } else {
            tokio::time::timeout(PATIENCE, response.text())
                .await
                .expect("read in time")
                .unwrap_or_default()
        };
        if !status.is_success() {
            failures.push(format!(
                "{}: {} {path} answered {status}: {body}",
                shown.place, request.method
            ));
        }
        sent += 1;
    }
    world.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(sent >= 5, "only {sent} curl commands");
}

/// The first table row of `text` that documents `flag`: its first cell names the flag,
/// as `` `--flag ...` `` or `` `-f, --flag ...` ``.
fn flag_row<'a>(text: &'a str, flag: &str) -> Option<&'a str> {
    let names = |cell: &str| {
        cell.trim()
            .trim_matches('`')
            .split(' ')
            .any(|word| word.trim_end_matches(',') == flag)
    };
    text.lines()
        .find(|line| line.starts_with('|') && line.split('|').nth(1).is_some_and(names))
}

/// The subcommand at `path` of the CLI.
fn subcommand(path: &[&str]) -> clap::Command {
    let mut command = cli::Cli::command();
    command.build();
    for name in path {
        command = command
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"))
            .clone();
    }
    command
}

#[test]
fn configuration_lists_every_flag_of_hub_serve_and_participant_join_with_its_default() {
    let text = doc("configuration.md");
    let mut missing = Vec::new();
    for path in [&["hub", "serve"][..], &["participant", "join"][..]] {
        for arg in subcommand(path).get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.is_global_set() || long == "help" {
                continue;
            }
            let flag = format!("--{long}");
            let Some(row) = flag_row(&text, &flag) else {
                missing.push(format!("{}: {flag}", path.join(" ")));
                continue;
            };
            if arg.get_action().takes_values() {
                for default in arg.get_default_values() {
                    let default = default.to_string_lossy();
                    if !row.contains(default.as_ref()) {
                        missing.push(format!("{flag}: default {default} in {row}"));
                    }
                }
            } else if !row.contains("| off") {
                missing.push(format!("{flag}: a switch, off by default, in {row}"));
            }
            if let Some(env) = arg.get_env()
                && !row.contains(env.to_string_lossy().as_ref())
            {
                missing.push(format!("{flag}: variable {env:?} in {row}"));
            }
        }
    }
    for arg in cli::Cli::command().get_arguments() {
        if let Some(long) = arg.get_long()
            && flag_row(&text, &format!("--{long}")).is_none()
        {
            missing.push(format!("global --{long}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks: {missing:#?}"
    );
}

#[test]
fn configuration_lists_every_environment_variable() {
    let text = doc("configuration.md");
    let start = text
        .find("## Environment variables")
        .expect("an environment variables section");
    let section = &text[start..];
    let section = &section[..section[2..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 2)];
    let documented: BTreeSet<String> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| line.split('`').nth(1).map(str::to_owned))
        .collect();

    let mut read = BTreeSet::new();
    fn walk(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, into);
        }
    }
    walk(&cli::Cli::command(), &mut read);
    // What the CLI reads by name itself.
    for (_, source) in rust_sources(&root().join("crates/gambi-cli/src")) {
        for call in ["env::var(", "env::var_os("] {
            read.extend(literals_after(&source, call).into_iter().map(str::to_owned));
        }
    }
    for variable in &read {
        assert!(
            documented.contains(variable),
            "docs/configuration.md does not list {variable}"
        );
    }
    for variable in &documented {
        if variable.starts_with("GAMBI_") {
            assert!(
                read.contains(variable),
                "docs/configuration.md lists {variable}, which the CLI does not read"
            );
        }
    }
}

/// Every Rust source file below `dir`, with its contents.
fn rust_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|error| panic!("{dir:?}: {error}")) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable");
                found.push((path, text));
            }
        }
    }
    found
}

/// The string literals that are the first argument of the calls `call` (such as
/// `.route(`) in `source`.
fn literals_after<'a>(source: &'a str, call: &str) -> Vec<&'a str> {
    source
        .match_indices(call)
        .filter_map(|(at, _)| {
            let rest = source[at + call.len()..].trim_start().strip_prefix('"')?;
            rest.split('"').next()
        })
        .collect()
}

#[test]
fn the_protocol_reference_lists_every_route_of_the_hub() {
    let protocol = doc("protocol.md");
    let mut routes = BTreeSet::new();
    for (_, source) in rust_sources(&root().join("crates/gambi-hub/src")) {
        // A catch-all (`{*rest}`) is no route of its own.
        routes.extend(
            literals_after(&source, ".route(")
                .into_iter()
                .filter(|route| route.starts_with('/') && !route.contains("{*"))
                .map(str::to_owned),
        );
    }
    assert!(routes.len() >= 15, "routes found: {routes:?}");
    // The route as a whole path: not the end of a longer one (`/v1/rooms/...` holds
    // `/rooms/...`), not the start of one.
    let path_char = |c: char| c == '/' || c == '{' || c == '}' || c.is_alphanumeric();
    let documented = |route: &str| {
        protocol.match_indices(route).any(|(at, _)| {
            let before = protocol[..at].chars().next_back();
            let after = protocol[at + route.len()..].chars().next();
            !before.is_some_and(path_char) && !after.is_some_and(path_char)
        })
    };
    let missing: Vec<String> = routes
        .into_iter()
        .filter(|route| !documented(route))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md does not list these routes of the hub: {missing:?}"
    );
}

/// The field names of `struct <name> {` in `source`, in camelCase.
fn struct_fields(source: &str, name: &str) -> BTreeSet<String> {
    let start = source
        .find(&format!("struct {name} {{"))
        .unwrap_or_else(|| panic!("no struct {name}"));
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("the struct ends")];
    body.lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.starts_with("//") && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
            let (field, _) = line.split_once(':')?;
            Some(camel_case(field.trim()))
        })
        .collect()
}

fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn configuration_lists_every_config_file_key_and_its_examples_load() {
    let source = include_str!("../src/config.rs");
    let file_keys = struct_fields(source, "ConfigFile");
    let env_keys = struct_fields(source, "EnvConfig");
    let serve_keys = struct_fields(source, "ServeConfig");
    assert!(env_keys.contains("hubUrl") && serve_keys.contains("corsOrigins"));
    let text = doc("configuration.md");
    for key in file_keys.iter().chain(&env_keys).chain(&serve_keys) {
        assert!(
            text.contains(&format!("| `{key}` |")),
            "docs/configuration.md has no row for the config key {key}"
        );
    }

    let runtime_keys: BTreeSet<String> = serde_json::to_value(proto::RuntimeConfig {
        temperature: Some(1.0),
        top_p: Some(1.0),
        max_tokens: Some(1),
        stop: Some(vec![]),
        frequency_penalty: Some(0.0),
        presence_penalty: Some(0.0),
        seed: Some(1),
        instructions: Some("x".into()),
    })
    .expect("serializable")
    .as_object()
    .expect("an object")
    .keys()
    .cloned()
    .collect();

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config_examples = 0;
    let mut defaults_examples = 0;
    for (file, document) in documents() {
        for (line, block) in blocks(&document, &["json"]) {
            let value: Value = serde_json::from_str(&block)
                .unwrap_or_else(|error| panic!("{file}:{line}: not JSON: {error}"));
            if value.get("envs").is_some() {
                let path = dir.path().join("config.json");
                std::fs::write(&path, &block).expect("written");
                let loaded = config::load(&path, None)
                    .unwrap_or_else(|error| panic!("{file}:{line}: {}", error.message));
                assert!(loaded.is_some(), "{file}:{line}: no default environment");
                for (name, env) in value["envs"].as_object().expect("envs is an object") {
                    for key in env.as_object().expect("an environment").keys() {
                        assert!(env_keys.contains(key), "{file}:{line}: {name}.{key}");
                    }
                    for key in env
                        .get("serve")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flat_map(|serve| serve.keys())
                    {
                        assert!(
                            serve_keys.contains(key),
                            "{file}:{line}: {name}.serve.{key}"
                        );
                    }
                    let path = dir.path().join("one.json");
                    std::fs::write(&path, &block).expect("written");
                    config::load(&path, Some(name))
                        .unwrap_or_else(|error| panic!("{file}:{line}: {}", error.message));
                }
                config_examples += 1;
            } else if file == "docs/configuration.md" {
                proto::RuntimeConfig::parse(&value)
                    .unwrap_or_else(|errors| panic!("{file}:{line}: {}", errors.summary()));
                for key in value.as_object().expect("an object").keys() {
                    assert!(runtime_keys.contains(key), "{file}:{line}: {key}");
                    assert!(
                        text.contains(&format!("| `{key}` |")),
                        "{file}:{line}: {key}"
                    );
                }
                defaults_examples += 1;
            }
        }
    }
    assert!(
        config_examples >= 2,
        "{config_examples} config file examples"
    );
    assert_eq!(defaults_examples, 1, "runtime defaults examples");
}
