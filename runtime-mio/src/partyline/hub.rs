//! The partyline hub: who is in the room, what each member sees, and what goes to the mesh.
//!
//! The hub owns no terminal and no socket. The SSH layer tells it that a session joined
//! ([`Hub::join`]), typed a line ([`Hub::handle_line`]) or went away ([`Hub::leave`]); the
//! network layer hands it chat from the mesh ([`Hub::remote_chat`]). Each call runs to completion
//! (NODE.md §5.5: joins, leaves, messages and commands are processed one at a time) and leaves
//! lines in bounded queues:
//!
//! * one output queue per session, drained with [`Hub::pop_output`] and printed by the SSH layer
//!   (the line editor's `print_above`); a line for a full queue is dropped for that session only
//!   and counted ([`Hub::dropped_lines`]);
//! * when networking is enabled, one queue of `(nick, text)` chat lines towards the mesh, drained
//!   with [`Hub::poll_network`]; when it is full the line is not sent (WARN
//!   `remote send buffer full, message dropped`).
//!
//! After any call, the caller drains the output queue of every session ([`Hub::sessions`]) and
//! the network queue. A session whose client does not read its output should simply not be
//! drained: its queue fills and further lines are dropped for it alone.
//!
//! Commands live in a table kept in registration order; the built-ins are `/who`, `/nick`,
//! `/quit` and `/help`, and more can be added with [`Hub::register_command`] until
//! [`Hub::freeze_commands`] (called when the SSH server starts listening). `/help` is generated
//! from the table.
//!
//! Every nickname and chat text is passed through [`sanitize`] before it is stored or shown,
//! local or remote, so no member can send terminal control sequences to another (the reference
//! does not do this for remote lines: NODE.md §5.5 **\[QUIRK\]**). Ordinary text is unchanged.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use super::sanitize::{is_forbidden, sanitize};

/// Lines a session's output queue holds before further lines are dropped for it.
pub const OUTPUT_QUEUE_LINES: usize = 64;

/// Chat lines the queue towards the network holds before further lines are dropped.
pub const NETWORK_QUEUE_LINES: usize = 64;

/// Requests to the node the queue holds before further ones are refused.
pub const REQUEST_QUEUE_LEN: usize = 64;

/// What a command asks of the node (its shared map); the daemon answers in its loop
/// ([`Hub::poll_request`]) with [`Hub::send`] to the session that asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeRequest {
    /// Write `value` under `key`.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: String,
    },
    /// Show the value of `key`.
    Get {
        /// The key.
        key: String,
    },
    /// List the live keys starting with `prefix`.
    Keys {
        /// The prefix (may be empty).
        prefix: String,
    },
}

/// Identifies one partyline member (one SSH session channel). Never reused by a hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the SSH layer does with a session after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// Keep reading lines.
    Continue,
    /// End the session: print its remaining output, call [`Hub::leave`], close the channel.
    Quit,
}

/// A command handler: receives the hub, the issuing session and the words after the command
/// name (unsanitised, as typed), and says whether the session goes on.
///
/// Handlers answer with [`Hub::send`] (to the issuer) or [`Hub::broadcast`] (to everyone).
pub type CommandHandler = Arc<dyn Fn(&mut Hub, SessionId, &[&str]) -> LineOutcome + Send + Sync>;

/// Why [`Hub::register_command`] refused a command. Both are programming errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The table is frozen: the SSH server already listens.
    Frozen {
        /// The command that was refused.
        name: String,
    },
    /// The name does not start with `/`, is only `/`, or contains whitespace or control
    /// characters.
    InvalidName {
        /// The command that was refused.
        name: String,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Frozen { name } => {
                write!(
                    f,
                    "cannot register command {name}: command registry is frozen"
                )
            }
            RegisterError::InvalidName { name } => {
                write!(f, "cannot register command {name:?}: invalid command name")
            }
        }
    }
}

impl std::error::Error for RegisterError {}

/// One row of the command table.
struct Command {
    name: String,
    usage: String,
    description: String,
    handler: CommandHandler,
}

/// One partyline member.
struct Session {
    nick: String,
    output: VecDeque<String>,
    dropped: u64,
}

/// The partyline chat room of one node. See the module documentation.
pub struct Hub {
    node_name: String,
    /// Keyed by increasing ids, so iteration is join order.
    sessions: BTreeMap<SessionId, Session>,
    next_id: u64,
    /// Present only when networking is enabled.
    network: Option<VecDeque<(String, String)>>,
    network_dropped: u64,
    commands: Vec<Command>,
    frozen: bool,
    /// Requests of commands to the node, in order, bounded by [`REQUEST_QUEUE_LEN`].
    requests: VecDeque<(SessionId, NodeRequest)>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("node_name", &self.node_name)
            .field("sessions", &self.sessions.len())
            .field("networking", &self.network.is_some())
            .field(
                "commands",
                &self.commands.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("frozen", &self.frozen)
            .finish()
    }
}

impl Hub {
    /// A hub for the node called `node_name` (shown in the welcome banner), with the built-in
    /// commands registered. With `networking`, local chat is queued for the mesh
    /// ([`Hub::poll_network`]); without it chat stays local.
    pub fn new(node_name: String, networking: bool) -> Self {
        let mut hub = Hub {
            node_name,
            sessions: BTreeMap::new(),
            next_id: 1,
            network: networking.then(VecDeque::new),
            network_dropped: 0,
            commands: Vec::new(),
            frozen: false,
            requests: VecDeque::new(),
        };
        let builtins: [(&str, &str, &str, CommandHandler); 4] = [
            ("/who", "/who", "list online users", Arc::new(cmd_who)),
            (
                "/nick",
                "/nick <name>",
                "change your nickname",
                Arc::new(cmd_nick),
            ),
            ("/quit", "/quit", "disconnect", Arc::new(cmd_quit)),
            ("/help", "/help", "show this help", Arc::new(cmd_help)),
        ];
        for (name, usage, description, handler) in builtins {
            hub.insert_command(name, usage, description, handler);
        }
        hub
    }

    // ----- getters -----

    /// The node name given to [`Hub::new`].
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Whether local chat is queued for the network.
    pub fn networking(&self) -> bool {
        self.network.is_some()
    }

    /// The sessions, in join order.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.sessions.keys().copied().collect()
    }

    /// The nicknames of the local sessions, in join order (what `/who` lists).
    pub fn who(&self) -> Vec<&str> {
        self.sessions.values().map(|s| s.nick.as_str()).collect()
    }

    /// The nickname of session `id`, or `None` if there is no such session.
    pub fn nick(&self, id: SessionId) -> Option<&str> {
        self.sessions.get(&id).map(|s| s.nick.as_str())
    }

    /// The prompt of session `id`, `[<nick>]> `, or `None` if there is no such session.
    pub fn prompt(&self, id: SessionId) -> Option<String> {
        self.nick(id).map(|nick| format!("[{nick}]> "))
    }

    /// Whether session `id` has output waiting.
    pub fn has_output(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.output.is_empty())
    }

    /// How many lines were dropped for session `id` because its queue was full.
    pub fn dropped_lines(&self, id: SessionId) -> Option<u64> {
        self.sessions.get(&id).map(|s| s.dropped)
    }

    /// How many chat lines were not sent because the network queue was full.
    pub fn network_dropped(&self) -> u64 {
        self.network_dropped
    }

    /// The `/help` block, one line per element: `Commands:`, then one line per command in
    /// registration order (two spaces, the usage padded to 14 characters, a space, an EM DASH, a
    /// space, the description).
    pub fn help_lines(&self) -> Vec<String> {
        let mut lines = Vec::with_capacity(self.commands.len() + 1);
        lines.push("Commands:".to_string());
        for c in &self.commands {
            lines.push(format!("  {:<14} \u{2014} {}", c.usage, c.description));
        }
        lines
    }

    // ----- sessions -----

    /// Adds a member called `nick` (the SSH user name; sanitised). Its queue receives the welcome
    /// banner (`Welcome to <node> partyline!`, `Type /help for commands.`, an empty line), and
    /// every session, including the new one, receives `* <nick> joined the partyline`.
    pub fn join(&mut self, nick: &str) -> SessionId {
        let id = SessionId(self.next_id);
        self.next_id = self.next_id.saturating_add(1);
        let nick = sanitize(nick);
        tracing::debug!(nick = %nick, id = id.0, component = "partyline", "session joined");
        let notice = format!("* {nick} joined the partyline");
        self.sessions.insert(
            id,
            Session {
                nick,
                output: VecDeque::new(),
                dropped: 0,
            },
        );
        let banner = format!("Welcome to {} partyline!", sanitize(&self.node_name));
        self.send(id, &banner);
        self.send(id, "Type /help for commands.");
        self.send(id, "");
        self.broadcast(&notice);
        id
    }

    /// Removes session `id`; the remaining sessions receive `* <nick> left the partyline` (its
    /// current nick). Lines still queued for it are discarded, so drain them first. Returns
    /// whether the session existed. Nothing is sent to the network.
    pub fn leave(&mut self, id: SessionId) -> bool {
        let Some(session) = self.sessions.remove(&id) else {
            return false;
        };
        tracing::debug!(nick = %session.nick, id = id.0, component = "partyline", "session left");
        self.broadcast(&format!("* {} left the partyline", session.nick));
        true
    }

    /// Changes the nickname of session `id` to `new` (sanitised; duplicates and the same nick are
    /// allowed) and tells every session, including this one, `* <old> is now known as <new>`.
    /// Returns the old nick, or `None` if there is no such session. Not announced to the
    /// network.
    pub fn set_nick(&mut self, id: SessionId, new: &str) -> Option<String> {
        let new = sanitize(new);
        let session = self.sessions.get_mut(&id)?;
        let old = std::mem::replace(&mut session.nick, new.clone());
        self.broadcast(&format!("* {old} is now known as {new}"));
        Some(old)
    }

    // ----- input -----

    /// Handles one line typed by session `id` (NODE.md §5.4): surrounding whitespace is
    /// stripped, an empty line is ignored, a line starting with `/` runs a command, anything
    /// else is chat: `[<nick>] <text>` to every other session and, with networking, `(nick,
    /// text)` to the network queue.
    ///
    /// Returns [`LineOutcome::Quit`] when the session must end (`/quit`, or no such session).
    pub fn handle_line(&mut self, id: SessionId, line: &str) -> LineOutcome {
        if !self.sessions.contains_key(&id) {
            return LineOutcome::Quit;
        }
        let line = line.trim();
        if line.is_empty() {
            return LineOutcome::Continue;
        }
        if line.starts_with('/') {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or("/");
            let args: Vec<&str> = words.collect();
            let handler = self
                .commands
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.handler.clone());
            return match handler {
                Some(handler) => handler(self, id, &args),
                None => {
                    self.send(
                        id,
                        &format!("Unknown command: {} (try /help)", sanitize(name)),
                    );
                    LineOutcome::Continue
                }
            };
        }
        self.local_chat(id, line);
        LineOutcome::Continue
    }

    /// Chat from session `id`: to every other session, and to the network queue.
    fn local_chat(&mut self, id: SessionId, text: &str) {
        let text = sanitize(text);
        let text = text.trim();
        let Some(nick) = self.nick(id).map(str::to_string) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let line = format!("[{nick}] {text}");
        for (&other, session) in &mut self.sessions {
            if other != id {
                push_line(session, &line);
            }
        }
        if let Some(queue) = &mut self.network {
            if queue.len() >= NETWORK_QUEUE_LINES {
                self.network_dropped += 1;
                tracing::warn!(
                    nick = %nick,
                    component = "partyline",
                    "remote send buffer full, message dropped"
                );
            } else {
                queue.push_back((nick, text.to_string()));
            }
        }
    }

    /// Chat from the mesh: every session receives `[<nick>] <text>`, both sanitised. It does not
    /// go back to the network queue (the gossip engine alone relays).
    pub fn remote_chat(&mut self, nick: &str, text: &str) {
        let line = format!("[{}] {}", sanitize(nick), sanitize(text));
        self.broadcast(&line);
    }

    // ----- output -----

    /// Queues `line` for session `id`, verbatim (no nick prefix). For command handlers and
    /// system messages. Dropped (and counted) if the queue is full; ignored if there is no such
    /// session.
    pub fn send(&mut self, id: SessionId, line: &str) {
        if let Some(session) = self.sessions.get_mut(&id) {
            push_line(session, line);
        }
    }

    /// Queues `line` for every session, verbatim (a system message).
    pub fn broadcast(&mut self, line: &str) {
        for session in self.sessions.values_mut() {
            push_line(session, line);
        }
    }

    /// The next line to show on session `id`'s terminal (without line ending).
    pub fn pop_output(&mut self, id: SessionId) -> Option<String> {
        self.sessions.get_mut(&id)?.output.pop_front()
    }

    /// Queues a request of session `id` to the node; false (and nothing queued) when
    /// [`REQUEST_QUEUE_LEN`] requests already wait.
    pub fn request(&mut self, id: SessionId, request: NodeRequest) -> bool {
        if self.requests.len() >= REQUEST_QUEUE_LEN {
            return false;
        }
        self.requests.push_back((id, request));
        true
    }

    /// The next request to the node, with the session to answer.
    pub fn poll_request(&mut self) -> Option<(SessionId, NodeRequest)> {
        self.requests.pop_front()
    }

    /// The next chat line `(nick, text)` to send to the mesh. Always `None` without networking.
    pub fn poll_network(&mut self) -> Option<(String, String)> {
        self.network.as_mut()?.pop_front()
    }

    // ----- commands -----

    /// Adds command `name` (such as `/set`) with its `/help` usage (such as `/set <key>
    /// <value>`) and description, at the end of the table. Re-registering a name replaces its
    /// usage, description and handler in place. Refused once the table is frozen, and for a
    /// name that does not start with `/`, is only `/`, or contains whitespace or control
    /// characters.
    pub fn register_command(
        &mut self,
        name: &str,
        usage: &str,
        description: &str,
        handler: impl Fn(&mut Hub, SessionId, &[&str]) -> LineOutcome + Send + Sync + 'static,
    ) -> Result<(), RegisterError> {
        if self.frozen {
            return Err(RegisterError::Frozen {
                name: name.to_string(),
            });
        }
        let valid = name.len() > 1
            && name.starts_with('/')
            && !name.chars().any(|c| c.is_whitespace() || is_forbidden(c));
        if !valid {
            return Err(RegisterError::InvalidName {
                name: name.to_string(),
            });
        }
        self.insert_command(name, usage, description, Arc::new(handler));
        Ok(())
    }

    /// Refuses every later [`Hub::register_command`]. Called when the SSH server listens.
    pub fn freeze_commands(&mut self) {
        self.frozen = true;
    }

    /// Whether [`Hub::freeze_commands`] was called.
    pub fn commands_frozen(&self) -> bool {
        self.frozen
    }

    fn insert_command(
        &mut self,
        name: &str,
        usage: &str,
        description: &str,
        handler: CommandHandler,
    ) {
        let command = Command {
            name: name.to_string(),
            usage: usage.to_string(),
            description: description.to_string(),
            handler,
        };
        match self.commands.iter_mut().find(|c| c.name == name) {
            Some(existing) => *existing = command,
            None => self.commands.push(command),
        }
    }
}

/// Appends `line` to the session's queue, or drops and counts it when the queue is full.
fn push_line(session: &mut Session, line: &str) {
    if session.output.len() >= OUTPUT_QUEUE_LINES {
        session.dropped += 1;
    } else {
        session.output.push_back(line.to_string());
    }
}

/// `/who`: `Online (<N>): <nick1>, <nick2>, …` (arguments ignored).
fn cmd_who(hub: &mut Hub, id: SessionId, _args: &[&str]) -> LineOutcome {
    let nicks = hub.who();
    let line = format!("Online ({}): {}", nicks.len(), nicks.join(", "));
    hub.send(id, &line);
    LineOutcome::Continue
}

/// `/nick <name> [ignored…]`; without a (non-empty once sanitised) name, the usage.
fn cmd_nick(hub: &mut Hub, id: SessionId, args: &[&str]) -> LineOutcome {
    match args.first().filter(|name| !sanitize(name).is_empty()) {
        Some(name) => {
            hub.set_nick(id, name);
        }
        None => hub.send(id, "Usage: /nick <name>"),
    }
    LineOutcome::Continue
}

/// `/quit`: `Goodbye.`, and the session ends.
fn cmd_quit(hub: &mut Hub, id: SessionId, _args: &[&str]) -> LineOutcome {
    hub.send(id, "Goodbye.");
    LineOutcome::Quit
}

/// `/help`: the command table.
fn cmd_help(hub: &mut Hub, id: SessionId, _args: &[&str]) -> LineOutcome {
    for line in hub.help_lines() {
        hub.send(id, &line);
    }
    LineOutcome::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn drain(hub: &mut Hub, id: SessionId) -> Vec<String> {
        std::iter::from_fn(|| hub.pop_output(id)).collect()
    }

    /// A hub with `alice` and `bob` joined and their queues emptied.
    fn two() -> (Hub, SessionId, SessionId) {
        let mut hub = Hub::new("node-d".into(), true);
        let a = hub.join("alice");
        let b = hub.join("bob");
        drain(&mut hub, a);
        drain(&mut hub, b);
        (hub, a, b)
    }

    #[test]
    fn hub_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Hub>();
    }

    #[test]
    fn join_shows_banner_then_join_notice_to_everyone() {
        let mut hub = Hub::new("node-d".into(), false);
        let a = hub.join("alice");
        assert_eq!(
            drain(&mut hub, a),
            [
                "Welcome to node-d partyline!",
                "Type /help for commands.",
                "",
                "* alice joined the partyline"
            ]
        );
        let b = hub.join("bob");
        assert_eq!(drain(&mut hub, a), ["* bob joined the partyline"]);
        assert_eq!(
            drain(&mut hub, b).last().unwrap(),
            "* bob joined the partyline"
        );
        assert_eq!(hub.nick(b), Some("bob"));
        assert_eq!(hub.prompt(b).as_deref(), Some("[bob]> "));
        assert_ne!(a, b);
    }

    #[test]
    fn leave_notifies_others() {
        let mut hub = Hub::new("n".into(), true);
        let a = hub.join("alice");
        let b = hub.join("bob");
        drain(&mut hub, a);
        assert!(hub.leave(b));
        assert_eq!(drain(&mut hub, a), ["* bob left the partyline"]);
        assert!(!hub.leave(b));
        assert_eq!(hub.who(), ["alice"]);
        assert_eq!(hub.pop_output(b), None);
    }

    #[test]
    fn leave_uses_current_nick() {
        let (mut hub, a, b) = two();
        hub.handle_line(b, "/nick bobby");
        drain(&mut hub, a);
        hub.leave(b);
        assert_eq!(drain(&mut hub, a), ["* bobby left the partyline"]);
    }

    #[test]
    fn observed_screen_of_node_md() {
        let mut hub = Hub::new("node-d".into(), false);
        let a = hub.join("alice");
        let b = hub.join("bob");
        hub.handle_line(b, "hello there");
        hub.handle_line(b, "/nick bobby");
        assert_eq!(hub.handle_line(b, "/quit"), LineOutcome::Quit);
        hub.leave(b);
        assert_eq!(
            drain(&mut hub, a),
            [
                "Welcome to node-d partyline!",
                "Type /help for commands.",
                "",
                "* alice joined the partyline",
                "* bob joined the partyline",
                "[bob] hello there",
                "* bob is now known as bobby",
                "* bobby left the partyline",
            ]
        );
        assert_eq!(hub.prompt(a).as_deref(), Some("[alice]> "));
    }

    #[test]
    fn chat_goes_to_others_not_author() {
        let mut hub = Hub::new("n".into(), false);
        let a = hub.join("alice");
        let b = hub.join("bob");
        let c = hub.join("carol");
        for id in [a, b, c] {
            drain(&mut hub, id);
        }
        assert_eq!(hub.handle_line(a, "  hi all  "), LineOutcome::Continue);
        assert!(drain(&mut hub, a).is_empty());
        assert_eq!(drain(&mut hub, b), ["[alice] hi all"]);
        assert_eq!(drain(&mut hub, c), ["[alice] hi all"]);
    }

    #[test]
    fn empty_and_blank_lines_are_ignored() {
        let (mut hub, a, b) = two();
        for line in ["", "   ", "\t \r", "\u{200B}"] {
            assert_eq!(hub.handle_line(a, line), LineOutcome::Continue);
        }
        assert!(drain(&mut hub, a).is_empty());
        assert!(drain(&mut hub, b).is_empty());
        assert_eq!(hub.poll_network(), None);
    }

    #[test]
    fn local_chat_is_queued_for_network_remote_is_not() {
        let (mut hub, a, b) = two();
        hub.handle_line(a, "hello");
        assert_eq!(hub.poll_network(), Some(("alice".into(), "hello".into())));
        assert_eq!(hub.poll_network(), None);
        hub.remote_chat("zed", "from afar");
        assert_eq!(hub.poll_network(), None);
        assert_eq!(drain(&mut hub, a), ["[zed] from afar"]);
        assert_eq!(drain(&mut hub, b), ["[alice] hello", "[zed] from afar"]);
        // Commands never reach the network.
        hub.handle_line(a, "/who");
        assert_eq!(hub.poll_network(), None);
    }

    #[test]
    fn without_networking_nothing_is_queued() {
        let mut hub = Hub::new("n".into(), false);
        let a = hub.join("alice");
        assert!(!hub.networking());
        for _ in 0..100 {
            hub.handle_line(a, "hi");
        }
        assert_eq!(hub.poll_network(), None);
        assert_eq!(hub.network_dropped(), 0);
    }

    #[test]
    fn full_network_queue_drops_the_line() {
        // The WARN text is checked by the other log tests; this one's capture raced with
        // parallel tests (process-wide callsite interest), so it asserts the counter only.
        let (mut hub, a, _) = two();
        for i in 0..NETWORK_QUEUE_LINES {
            hub.handle_line(a, &format!("m{i}"));
        }
        assert_eq!(hub.network_dropped(), 0);
        hub.handle_line(a, "one too many");
        assert_eq!(hub.network_dropped(), 1);
        for i in 0..NETWORK_QUEUE_LINES {
            assert_eq!(hub.poll_network(), Some(("alice".into(), format!("m{i}"))));
        }
        assert_eq!(hub.poll_network(), None);
        // Room again.
        hub.handle_line(a, "later");
        assert_eq!(hub.poll_network(), Some(("alice".into(), "later".into())));
    }

    #[test]
    fn full_output_queue_drops_for_that_session_only() {
        let (mut hub, a, b) = two();
        let c = hub.join("carol");
        drain(&mut hub, a);
        drain(&mut hub, b);
        drain(&mut hub, c);
        // bob reads, carol does not.
        for i in 0..OUTPUT_QUEUE_LINES + 10 {
            hub.handle_line(a, &format!("m{i}"));
            assert_eq!(hub.pop_output(b), Some(format!("[alice] m{i}")));
        }
        assert_eq!(hub.dropped_lines(b), Some(0));
        assert_eq!(hub.dropped_lines(c), Some(10));
        let seen = drain(&mut hub, c);
        assert_eq!(seen.len(), OUTPUT_QUEUE_LINES);
        assert_eq!(
            seen.last().unwrap(),
            &format!("[alice] m{}", OUTPUT_QUEUE_LINES - 1)
        );
        hub.handle_line(a, "again");
        assert_eq!(drain(&mut hub, c), ["[alice] again"]);
        assert_eq!(hub.dropped_lines(SessionId(999)), None);
    }

    #[test]
    fn who_lists_local_sessions_in_join_order() {
        let (mut hub, a, _) = two();
        hub.remote_chat("remote-user", "x");
        drain(&mut hub, a);
        assert_eq!(hub.who(), ["alice", "bob"]);
        hub.handle_line(a, "/who extra args");
        assert_eq!(drain(&mut hub, a), ["Online (2): alice, bob"]);
        let mut solo = Hub::new("n".into(), false);
        let d = solo.join("dave");
        drain(&mut solo, d);
        solo.handle_line(d, "/who");
        assert_eq!(drain(&mut solo, d), ["Online (1): dave"]);
    }

    #[test]
    fn nick_change() {
        let (mut hub, a, b) = two();
        assert_eq!(
            hub.handle_line(a, "/nick nova ignored words"),
            LineOutcome::Continue
        );
        assert_eq!(drain(&mut hub, a), ["* alice is now known as nova"]);
        assert_eq!(drain(&mut hub, b), ["* alice is now known as nova"]);
        assert_eq!(hub.who(), ["nova", "bob"]);
        assert_eq!(hub.prompt(a).as_deref(), Some("[nova]> "));
        assert_eq!(
            hub.poll_network(),
            None,
            "nick changes are not announced to the network"
        );
        // Duplicates and the same nick are allowed.
        hub.handle_line(a, "/nick bob");
        hub.handle_line(b, "/nick bob");
        assert_eq!(
            drain(&mut hub, b),
            ["* nova is now known as bob", "* bob is now known as bob"]
        );
        assert_eq!(hub.who(), ["bob", "bob"]);
        // Chat uses the new nick.
        hub.handle_line(a, "hi");
        assert_eq!(hub.poll_network(), Some(("bob".into(), "hi".into())));
    }

    #[test]
    fn set_nick_returns_old_nick() {
        let (mut hub, a, b) = two();
        assert_eq!(hub.set_nick(a, "nova").as_deref(), Some("alice"));
        let notice = drain(&mut hub, b);
        assert!(notice[0].contains("alice") && notice[0].contains("nova"));
        assert_eq!(hub.set_nick(SessionId(999), "x"), None);
    }

    #[test]
    fn nick_without_argument_prints_usage() {
        let (mut hub, a, b) = two();
        hub.handle_line(a, "/nick");
        hub.handle_line(a, "/nick   ");
        assert_eq!(
            drain(&mut hub, a),
            ["Usage: /nick <name>", "Usage: /nick <name>"]
        );
        assert!(drain(&mut hub, b).is_empty());
        assert_eq!(hub.nick(a), Some("alice"));
    }

    #[test]
    fn quit_says_goodbye_and_ends() {
        let (mut hub, a, b) = two();
        assert_eq!(hub.handle_line(a, "/quit"), LineOutcome::Quit);
        assert_eq!(drain(&mut hub, a), ["Goodbye."]);
        assert!(
            drain(&mut hub, b).is_empty(),
            "leave notice only on leave()"
        );
        hub.leave(a);
        assert_eq!(drain(&mut hub, b), ["* alice left the partyline"]);
        assert_eq!(
            hub.handle_line(a, "hello"),
            LineOutcome::Quit,
            "unknown session"
        );
    }

    #[test]
    fn help_block_is_exact() {
        let (mut hub, a, _) = two();
        hub.handle_line(a, "/help");
        assert_eq!(
            drain(&mut hub, a).join("\n"),
            "Commands:\n\
             \x20 /who           \u{2014} list online users\n\
             \x20 /nick <name>   \u{2014} change your nickname\n\
             \x20 /quit          \u{2014} disconnect\n\
             \x20 /help          \u{2014} show this help"
        );
    }

    #[test]
    fn unknown_commands() {
        let (mut hub, a, b) = two();
        for (line, word) in [
            ("/bogus", "/bogus"),
            ("/nope x y", "/nope"),
            ("/", "/"),
            ("/WHO", "/WHO"),
        ] {
            assert_eq!(hub.handle_line(a, line), LineOutcome::Continue);
            assert_eq!(
                drain(&mut hub, a),
                [format!("Unknown command: {word} (try /help)")]
            );
        }
        // Only whitespace-split: "/ who" is the command "/".
        hub.handle_line(a, "  / who");
        assert_eq!(drain(&mut hub, a), ["Unknown command: / (try /help)"]);
        hub.handle_line(a, "/\x1b[2Jx");
        assert_eq!(drain(&mut hub, a), ["Unknown command: /x (try /help)"]);
        assert!(drain(&mut hub, b).is_empty());
        assert_eq!(hub.poll_network(), None);
    }

    #[test]
    fn registered_command_gets_session_hub_and_args() {
        let mut hub = Hub::new("n".into(), false);
        let seen = Arc::new(Mutex::new(Vec::<(SessionId, Vec<String>)>::new()));
        let log = seen.clone();
        hub.register_command(
            "/ping",
            "/ping <word>",
            "answer pong",
            move |hub, id, args| {
                log.lock()
                    .unwrap()
                    .push((id, args.iter().map(|s| s.to_string()).collect()));
                hub.send(id, "pong");
                LineOutcome::Continue
            },
        )
        .unwrap();
        hub.register_command("/bye", "/bye", "leave", |_, _, _| LineOutcome::Quit)
            .unwrap();
        let a = hub.join("alice");
        drain(&mut hub, a);
        assert_eq!(hub.handle_line(a, "/ping pong"), LineOutcome::Continue);
        assert_eq!(drain(&mut hub, a), ["pong"]);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [(a, vec!["pong".to_string()])]
        );
        assert_eq!(hub.handle_line(a, "/bye"), LineOutcome::Quit);
        // Appear in help in registration order, after the built-ins.
        let help = hub.help_lines();
        assert_eq!(help.len(), 7);
        assert_eq!(help[4], "  /help          \u{2014} show this help");
        assert_eq!(help[5], "  /ping <word>   \u{2014} answer pong");
        assert_eq!(help[6], "  /bye           \u{2014} leave");
    }

    #[test]
    fn long_usage_is_not_truncated() {
        let mut hub = Hub::new("n".into(), false);
        hub.register_command("/set", "/set <key> <value>", "set a value", |_, _, _| {
            LineOutcome::Continue
        })
        .unwrap();
        assert_eq!(
            hub.help_lines().last().unwrap(),
            "  /set <key> <value> \u{2014} set a value"
        );
    }

    #[test]
    fn re_registering_replaces_in_place() {
        let mut hub = Hub::new("n".into(), false);
        hub.register_command("/who", "/who", "who is here", |hub, id, _| {
            hub.send(id, "replaced");
            LineOutcome::Continue
        })
        .unwrap();
        let help = hub.help_lines();
        assert_eq!(help.len(), 5);
        assert_eq!(help[1], "  /who           \u{2014} who is here");
        assert_eq!(help.iter().filter(|l| l.contains("/who")).count(), 1);
        let a = hub.join("alice");
        drain(&mut hub, a);
        hub.handle_line(a, "/who");
        assert_eq!(drain(&mut hub, a), ["replaced"]);
    }

    #[test]
    fn registration_is_refused_after_freeze_and_for_bad_names() {
        let mut hub = Hub::new("n".into(), false);
        let noop = |_: &mut Hub, _: SessionId, _: &[&str]| LineOutcome::Continue;
        for bad in ["", "/", "set", "/a b", "/a\tb", "/a\x1b"] {
            assert_eq!(
                hub.register_command(bad, bad, "x", noop),
                Err(RegisterError::InvalidName { name: bad.into() })
            );
        }
        assert!(!hub.commands_frozen());
        hub.freeze_commands();
        assert!(hub.commands_frozen());
        let err = hub.register_command("/set", "/set", "x", noop).unwrap_err();
        assert_eq!(
            err,
            RegisterError::Frozen {
                name: "/set".into()
            }
        );
        assert!(err.to_string().contains("frozen") && err.to_string().contains("/set"));
        assert_eq!(hub.help_lines().len(), 5);
    }

    #[test]
    fn node_name_is_reported() {
        let hub = Hub::new("test-node".into(), true);
        assert_eq!(hub.node_name(), "test-node");
        assert!(hub.networking());
    }

    #[test]
    fn system_messages_are_verbatim() {
        let (mut hub, a, b) = two();
        hub.broadcast("*** server restarting");
        assert_eq!(drain(&mut hub, a), ["*** server restarting"]);
        assert_eq!(drain(&mut hub, b), ["*** server restarting"]);
        hub.send(b, "just you");
        assert!(drain(&mut hub, a).is_empty());
        assert_eq!(drain(&mut hub, b), ["just you"]);
        hub.send(SessionId(999), "nobody");
    }

    #[test]
    fn hostile_remote_chat_is_sanitised() {
        let (mut hub, a, _) = two();
        hub.remote_chat(
            "ev\x1b[2Jil",
            "\x1b]0;pwned\x07hi\r\n[alice] fake\u{202E}txt",
        );
        assert_eq!(drain(&mut hub, a), ["[evil] hi[alice] faketxt"]);
        hub.remote_chat("", "");
        assert_eq!(drain(&mut hub, a), ["[] "]);
    }

    #[test]
    fn hostile_local_input_is_sanitised() {
        let mut hub = Hub::new("node\x1b[2J".into(), true);
        let a = hub.join("mal\x1b]0;x\x07lory\r");
        assert_eq!(
            drain(&mut hub, a),
            [
                "Welcome to node partyline!",
                "Type /help for commands.",
                "",
                "* mallory joined the partyline"
            ]
        );
        let b = hub.join("bob");
        drain(&mut hub, a);
        drain(&mut hub, b);
        hub.handle_line(a, "hi\x1b[2J there\x07");
        assert_eq!(drain(&mut hub, b), ["[mallory] hi there"]);
        assert_eq!(
            hub.poll_network(),
            Some(("mallory".into(), "hi there".into()))
        );
        hub.handle_line(a, "/nick \u{202E}x\x1bc");
        assert_eq!(drain(&mut hub, b), ["* mallory is now known as x"]);
        // A name that is empty once sanitised is no name.
        hub.handle_line(a, "/nick \u{200B}");
        assert_eq!(
            drain(&mut hub, a),
            ["* mallory is now known as x", "Usage: /nick <name>"]
        );
    }

    #[test]
    fn unknown_session_is_harmless() {
        let mut hub = Hub::new("n".into(), true);
        let ghost = SessionId(42);
        assert_eq!(hub.handle_line(ghost, "/who"), LineOutcome::Quit);
        assert_eq!(hub.pop_output(ghost), None);
        assert_eq!(hub.prompt(ghost), None);
        assert!(!hub.has_output(ghost));
        assert!(!hub.leave(ghost));
        assert_eq!(hub.poll_network(), None);
    }

    #[test]
    fn session_ids_are_not_reused() {
        let mut hub = Hub::new("n".into(), false);
        let a = hub.join("a");
        hub.leave(a);
        let b = hub.join("a");
        assert_ne!(a, b);
        assert_eq!(hub.sessions(), [b]);
        assert!(hub.has_output(b));
    }
}
