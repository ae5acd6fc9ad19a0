//! `micelio`: one Micelio node. Loads or creates its identity, joins the mesh, serves the SSH
//! partyline, and runs until SIGINT or SIGTERM (NODE.md).

use std::fmt::Display;
use std::process::ExitCode;

use micelio_platform::config::{self, Config, Overrides, parse_args};
use micelio_platform::startup::{self, Prepared, StartupError};

use micelio_node::app::DaemonApp;
use micelio_node::logging;
use micelio_node::net::EventLoop;
use micelio_node::partyline::service::PartylineService;
use micelio_node::partyline::{Hub, state_commands};
use micelio_node::ssh::{AuthorizedKeys, SshServer};

/// A start-up failure: the NODE.md §2 message and its cause.
struct Fatal {
    message: &'static str,
    error: String,
}

fn fatal(message: &'static str) -> impl FnOnce(&dyn Display) -> Fatal {
    move |error| Fatal {
        message,
        error: error.to_string(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let overrides = match parse_args(&args) {
        Ok(overrides) => overrides,
        Err(error) => {
            eprintln!("{error}");
            eprint!("{}", config::USAGE);
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(&overrides) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal { message, error }) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!(err = %error, "{message}");
            } else {
                eprintln!("ERROR {message}: {error}");
            }
            ExitCode::from(1)
        }
    }
}

fn run(overrides: &Overrides) -> Result<(), Fatal> {
    let mut config =
        Config::load(overrides.config_path()).map_err(|e| fatal("fatal: config")(&e))?;
    config.apply_overrides(overrides);
    config.apply_env_log_level(std::env::var("MICELIO_LOG_LEVEL").ok().as_deref());
    config
        .validate()
        .map_err(|e| fatal("fatal: invalid configuration")(&e))?;
    logging::init(config.log_level(), config.log_format());

    let Prepared {
        node,
        store,
        listener,
        clock,
        data_dir,
    } = startup::prepare(&config).map_err(startup_fatal)?;
    if !config.network.bootstrap.is_empty() {
        tracing::info!(peers = config.network.bootstrap.len(), "bootstrapping");
    }
    let mut hub = Hub::new(config.node.name.clone(), config.networking_enabled());
    if config.extensions.state {
        state_commands::register(&mut hub).map_err(|e| fatal("fatal: partyline")(&e))?;
    }
    let host_seed = node.identity().seed();

    let authorized = AuthorizedKeys::load(&data_dir.join("authorized_keys"));
    let ssh_listener = bind_ssh(&config.ssh.listen).map_err(|e| fatal("fatal: ssh")(&e))?;
    tracing::info!(addr = %config.ssh.listen, "ssh listening");
    if let Ok(bound) = ssh_listener.local_addr() {
        tracing::info!(
            login = %format!("ssh -p {} <nick>@{}", bound.port(), login_host(bound.ip())),
            authorized_keys = %data_dir.join("authorized_keys").display(),
            "partyline ready"
        );
    }

    let poll = mio::Poll::new().map_err(|e| fatal("fatal: transport")(&e))?;
    let mut event_loop = EventLoop::new(poll, clock, node, listener, store)
        .map_err(|e| fatal("fatal: transport")(&e))?;
    let waker = event_loop
        .waker()
        .map_err(|e| fatal("fatal: transport")(&e))?;
    let ssh = SshServer::start(ssh_listener, &host_seed, authorized, waker)
        .map_err(|e| fatal("fatal: ssh")(&e))?;
    let partyline = PartylineService::new(hub, ssh);
    let mut app = DaemonApp::new(event_loop.registry(), partyline)
        .map_err(|e| fatal("fatal: signals")(&e))?;
    event_loop
        .run(&mut app)
        .map_err(|e| fatal("fatal: transport")(&e))?;
    app.into_partyline().finish();
    tracing::info!("stopped");
    Ok(())
}

/// Binds the SSH listen address as configured; an empty address means an OS-chosen port on all
/// interfaces (NODE.md §3.4).
fn bind_ssh(addr: &str) -> Result<std::net::TcpListener, String> {
    let target = if addr.is_empty() { "0.0.0.0:0" } else { addr };
    std::net::TcpListener::bind(target).map_err(|e| format!("listening on {addr}: {e}"))
}

/// The NODE.md §2 message of a failed start-up step, and its cause.
fn startup_fatal(error: StartupError) -> Fatal {
    match error {
        StartupError::Config(e) => fatal("fatal: invalid configuration")(&e),
        StartupError::DataDir(e) => fatal("fatal: creating data dir")(&e),
        StartupError::Identity(e) => fatal("fatal: identity")(&e),
        StartupError::Store(e) => fatal("fatal: store")(&e),
        StartupError::Listen { addr, source } => {
            fatal("fatal: transport")(&format!("listening on {addr}: {source}"))
        }
    }
}

/// The host name to show in the login hint: loopback for a wildcard bind.
fn login_host(ip: std::net::IpAddr) -> String {
    if ip.is_unspecified() {
        String::from("localhost")
    } else {
        ip.to_string()
    }
}
