//! The partyline as the mio loop runs it: the [`Hub`] plus the bridge to the SSH thread.
//!
//! The loop calls [`PartylineService::poll`] when woken (the SSH thread queued joins, lines,
//! leaves), [`PartylineService::remote_chat`] for chat from the mesh, and takes the chat lines
//! for the mesh with [`PartylineService::take_network`]. After every change of the hub, each
//! session's queued lines are handed to its SSH session task, as many as its small output
//! channel takes; nothing here ever blocks. A session whose client does not read keeps its lines
//! in the hub's bounded queue, where further lines are dropped for it alone.
//!
//! [`PartylineService::shutdown`] (SIGINT/SIGTERM) ends every session in join order, so each
//! remaining user is shown the leave notices of those before, and tells the SSH server to stop;
//! [`PartylineService::ssh_stopped`] says when it has drained.

use std::collections::{BTreeMap, HashMap};

use tokio::sync::mpsc;

use super::{Hub, LineOutcome, SessionId};
use crate::ssh::{ResumeFlag, SessionKey, SessionOutput, SshEvent, SshServer};

/// One member as the bridge knows it.
struct Member {
    key: SessionKey,
    output: mpsc::Sender<SessionOutput>,
    resume: ResumeFlag,
    /// The prompt last sent to the session task.
    prompt: Option<String>,
}

/// The hub and its SSH sessions. See the module documentation.
pub struct PartylineService {
    hub: Hub,
    ssh: SshServer,
    members: BTreeMap<SessionId, Member>,
    keys: HashMap<SessionKey, SessionId>,
    stopping: bool,
}

impl PartylineService {
    /// The service of `hub` (with its commands frozen) and the running `ssh` server.
    pub fn new(mut hub: Hub, ssh: SshServer) -> Self {
        hub.freeze_commands();
        PartylineService {
            hub,
            ssh,
            members: BTreeMap::new(),
            keys: HashMap::new(),
            stopping: false,
        }
    }

    /// The hub (for status queries).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Handles everything the SSH thread has queued.
    pub fn poll(&mut self) {
        while let Some(event) = self.ssh.poll_event() {
            self.handle(event);
        }
    }

    /// Chat from the mesh: shown to every session (sanitised by the hub).
    pub fn remote_chat(&mut self, nick: &str, text: &str) {
        self.hub.remote_chat(nick, text);
        self.flush_all();
    }

    /// Answers the sessions' requests to the node (the shared map's commands).
    pub fn serve_node(
        &mut self,
        node: &mut micelio_core::node::Node,
        now: micelio_core::time::Instant,
    ) {
        super::state_commands::answer(&mut self.hub, node, now);
        self.flush_all();
    }

    /// Chat lines `(nick, text)` for the mesh (always empty without networking).
    pub fn take_network(&mut self) -> Vec<(String, String)> {
        std::iter::from_fn(|| self.hub.poll_network()).collect()
    }

    /// Ends every session (in join order: each remaining one is shown the others' leave
    /// notices) and tells the SSH server to stop accepting and drain. Idempotent; later joins are
    /// refused.
    pub fn shutdown(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.ssh.shutdown();
        self.poll();
        for id in self.hub.sessions() {
            self.remove(id);
        }
    }

    /// Whether the SSH server has stopped (drained after [`PartylineService::shutdown`]).
    pub fn ssh_stopped(&self) -> bool {
        self.ssh.is_stopped()
    }

    /// Waits for the SSH thread if it has stopped.
    pub fn finish(self) {
        self.ssh.join();
    }

    fn handle(&mut self, event: SshEvent) {
        match event {
            SshEvent::Join {
                key,
                user,
                output,
                resume,
            } => {
                if self.stopping {
                    // Dropping `output` ends the session at once.
                    return;
                }
                let id = self.hub.join(&user);
                self.keys.insert(key, id);
                let member = Member {
                    key,
                    output,
                    resume,
                    prompt: None,
                };
                self.members.insert(id, member);
                self.flush_all();
            }
            SshEvent::Line { key, line } => {
                let Some(&id) = self.keys.get(&key) else {
                    return;
                };
                let outcome = self.hub.handle_line(id, &line);
                self.flush_all();
                if outcome == LineOutcome::Quit {
                    self.remove(id);
                }
            }
            SshEvent::Leave { key } => {
                if let Some(&id) = self.keys.get(&key) {
                    self.remove(id);
                }
            }
            SshEvent::Resume { key } => {
                if let Some(&id) = self.keys.get(&key) {
                    self.flush(id);
                }
            }
            SshEvent::Stopped => {
                if !self.stopping {
                    tracing::error!(component = "ssh", "SSH server stopped");
                }
            }
        }
    }

    /// Hands session `id` what still fits, removes it from the hub (the others get the leave
    /// notice) and drops its output sender, which closes its channel once shown.
    fn remove(&mut self, id: SessionId) {
        self.flush(id);
        if let Some(member) = self.members.remove(&id) {
            self.keys.remove(&member.key);
        }
        self.hub.leave(id);
        self.flush_all();
    }

    fn flush_all(&mut self) {
        let ids: Vec<SessionId> = self.members.keys().copied().collect();
        for id in ids {
            self.flush(id);
        }
    }

    /// Moves session `id`'s queued lines, then its prompt if it changed, to its task while its
    /// output channel has room; raises its resume flag when the channel is full. The prompt
    /// goes last so that a new session shows the banner before its first prompt.
    fn flush(&mut self, id: SessionId) {
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        loop {
            let prompt = self
                .hub
                .prompt(id)
                .filter(|p| member.prompt.as_ref() != Some(p));
            if prompt.is_none() && !self.hub.has_output(id) {
                return;
            }
            let permit = match member.output.try_reserve() {
                Ok(permit) => permit,
                Err(mpsc::error::TrySendError::Closed(())) => return,
                Err(mpsc::error::TrySendError::Full(())) => {
                    member.resume.raise();
                    // The task may have emptied the channel before seeing the flag: look again.
                    match member.output.try_reserve() {
                        Ok(permit) => permit,
                        Err(_) => return,
                    }
                }
            };
            match self.hub.pop_output(id) {
                Some(line) => permit.send(SessionOutput::Line(line)),
                None => {
                    if let Some(prompt) = prompt {
                        member.prompt = Some(prompt.clone());
                        permit.send(SessionOutput::Prompt(prompt));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::Phase;
    use crate::ssh::link::SESSION_OUTPUT_SLOTS;

    /// A session as the SSH side sees it: its key, the receiving end of its output, its flag.
    struct Client {
        key: SessionKey,
        output: mpsc::Receiver<SessionOutput>,
        resume: ResumeFlag,
    }

    impl Client {
        /// Everything queued for it so far.
        fn drain(&mut self) -> Vec<SessionOutput> {
            std::iter::from_fn(|| self.output.try_recv().ok()).collect()
        }

        /// The lines queued for it so far (prompts left out).
        fn lines(&mut self) -> Vec<String> {
            self.drain()
                .into_iter()
                .filter_map(|o| match o {
                    SessionOutput::Line(line) => Some(line),
                    SessionOutput::Prompt(_) => None,
                })
                .collect()
        }

        /// Whether the loop dropped its sender (the session ended on the hub's side).
        fn closed(&mut self) -> bool {
            matches!(
                self.output.try_recv(),
                Err(mpsc::error::TryRecvError::Disconnected)
            )
        }
    }

    struct Fixture {
        service: PartylineService,
        events: mpsc::Sender<SshEvent>,
        phase: tokio::sync::watch::Receiver<Phase>,
        next_key: u64,
    }

    impl Fixture {
        fn new(networking: bool) -> Self {
            let (ssh, events, phase) = SshServer::detached();
            Fixture {
                service: PartylineService::new(Hub::new("node-t".into(), networking), ssh),
                events,
                phase,
                next_key: 1,
            }
        }

        fn send(&mut self, event: SshEvent) {
            self.events.try_send(event).expect("event queue has room");
            self.service.poll();
        }

        fn join(&mut self, user: &str) -> Client {
            let key = SessionKey(self.next_key);
            self.next_key += 1;
            let (output, rx) = mpsc::channel(SESSION_OUTPUT_SLOTS);
            let resume = ResumeFlag::default();
            self.send(SshEvent::Join {
                key,
                user: user.into(),
                output,
                resume: resume.clone(),
            });
            Client {
                key,
                output: rx,
                resume,
            }
        }

        fn line(&mut self, client: &Client, line: &str) {
            self.send(SshEvent::Line {
                key: client.key,
                line: line.into(),
            });
        }
    }

    #[test]
    fn join_sends_the_banner_and_notice_then_the_prompt() {
        let mut f = Fixture::new(false);
        let mut alice = f.join("alice");
        assert_eq!(
            alice.drain(),
            vec![
                SessionOutput::Line("Welcome to node-t partyline!".into()),
                SessionOutput::Line("Type /help for commands.".into()),
                SessionOutput::Line(String::new()),
                SessionOutput::Line("* alice joined the partyline".into()),
                SessionOutput::Prompt("[alice]> ".into()),
            ]
        );
        let mut bob = f.join("bob");
        assert_eq!(alice.lines(), vec!["* bob joined the partyline"]);
        assert_eq!(bob.lines().last().unwrap(), "* bob joined the partyline");
    }

    #[test]
    fn chat_nick_and_network_queue() {
        let mut f = Fixture::new(true);
        let mut alice = f.join("alice");
        let mut bob = f.join("bob");
        alice.drain();
        bob.drain();
        f.line(&alice, "  hello there ");
        assert_eq!(bob.lines(), vec!["[alice] hello there"]);
        assert!(alice.lines().is_empty());
        assert_eq!(
            f.service.take_network(),
            vec![("alice".to_string(), "hello there".to_string())]
        );
        f.line(&bob, "/nick bobby");
        assert_eq!(
            bob.drain(),
            vec![
                SessionOutput::Line("* bob is now known as bobby".into()),
                SessionOutput::Prompt("[bobby]> ".into()),
            ]
        );
        assert_eq!(alice.lines(), vec!["* bob is now known as bobby"]);
        f.service.remote_chat("eve\x1b[2J", "hi\x07");
        assert_eq!(alice.lines(), vec!["[eve] hi"]);
    }

    #[test]
    fn without_networking_chat_stays_local() {
        let mut f = Fixture::new(false);
        let alice = f.join("alice");
        f.line(&alice, "local only");
        assert!(f.service.take_network().is_empty());
    }

    #[test]
    fn quit_says_goodbye_and_ends_the_session() {
        let mut f = Fixture::new(false);
        let mut alice = f.join("alice");
        let mut bob = f.join("bob");
        alice.drain();
        bob.drain();
        f.line(&bob, "/quit");
        assert_eq!(bob.lines(), vec!["Goodbye."]);
        assert!(bob.closed());
        assert_eq!(alice.lines(), vec!["* bob left the partyline"]);
        // Lines typed after /quit are ignored.
        f.line(&bob, "still here?");
        assert!(alice.lines().is_empty());
        assert_eq!(f.service.hub().who(), vec!["alice"]);
    }

    #[test]
    fn leave_from_the_ssh_side() {
        let mut f = Fixture::new(false);
        let mut alice = f.join("alice");
        let bob = f.join("bob");
        alice.drain();
        f.send(SshEvent::Leave { key: bob.key });
        assert_eq!(alice.lines(), vec!["* bob left the partyline"]);
        f.send(SshEvent::Leave { key: bob.key });
        assert!(alice.lines().is_empty());
    }

    #[test]
    fn a_full_session_channel_leaves_lines_in_the_hub_until_resumed() {
        let mut f = Fixture::new(false);
        let mut alice = f.join("alice");
        let bob = f.join("bob");
        alice.drain();
        for i in 0..200 {
            f.line(&bob, &format!("line {i}"));
        }
        assert!(alice.resume.take(), "the loop asked to be resumed");
        let mut seen = alice.lines();
        assert_eq!(seen.len(), SESSION_OUTPUT_SLOTS);
        f.send(SshEvent::Resume { key: alice.key });
        seen.extend(alice.lines());
        assert_eq!(seen.len(), 2 * SESSION_OUTPUT_SLOTS);
        loop {
            f.send(SshEvent::Resume { key: alice.key });
            let more = alice.lines();
            if more.is_empty() {
                break;
            }
            seen.extend(more);
        }
        // What the channel held plus the hub's bounded queue; the rest was dropped.
        assert_eq!(
            seen.len(),
            SESSION_OUTPUT_SLOTS + crate::partyline::OUTPUT_QUEUE_LINES
        );
        assert_eq!(seen[0], "[bob] line 0");
        let expected: Vec<String> = (0..seen.len()).map(|i| format!("[bob] line {i}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn shutdown_ends_sessions_in_join_order_and_refuses_joins() {
        let mut f = Fixture::new(false);
        let mut alice = f.join("alice");
        let mut bob = f.join("bob");
        let mut carol = f.join("carol");
        alice.drain();
        bob.drain();
        carol.drain();
        f.service.shutdown();
        f.service.shutdown();
        assert_eq!(*f.phase.borrow(), Phase::Draining);
        assert!(alice.lines().is_empty());
        assert!(alice.closed());
        assert_eq!(bob.lines(), vec!["* alice left the partyline"]);
        assert!(bob.closed());
        assert_eq!(
            carol.lines(),
            vec!["* alice left the partyline", "* bob left the partyline"]
        );
        assert!(carol.closed());
        let mut late = f.join("late");
        assert!(late.lines().is_empty());
        assert!(late.closed());
        assert!(f.service.hub().who().is_empty());
        assert!(!f.service.ssh_stopped());
        f.send(SshEvent::Stopped);
        assert!(f.service.ssh_stopped());
    }
}
