//! One partyline session: the task that owns a session channel's [`LineEditor`] after `shell`.
//!
//! It joins the hub through the loop ([`SshEvent::Join`]), then waits for whichever comes first:
//! key bytes from the client (forwarded by the connection handler) or output from the loop. Key
//! bytes go through the editor, and completed lines go to the loop; output lines are printed
//! above the prompt. Whatever the editor produced is then written to the channel, waiting for
//! the client's window (so a client that does not read only stalls its own session).
//!
//! The session ends on the SSH side (Ctrl-C, Ctrl-D on an empty line, EOF, channel or connection
//! closed: [`SshEvent::Leave`]) or on the hub's side (`/quit`, shutdown: the loop drops the
//! output sender once it has queued the last lines). Either way the channel is closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use russh::ChannelWriteHalf;
use russh::server::Msg;
use tokio::sync::mpsc;

use super::link::{
    LoopLink, ResumeFlag, SESSION_OUTPUT_SLOTS, SessionKey, SessionOutput, SshEvent,
};
use super::tracker::TaskToken;
use crate::partyline::{EditorEvent, LineEditor};

/// Client input bytes a session holds before it has handled them; beyond this, further input is
/// dropped. Pastes arrive in bursts that the connection handler forwards faster than the session
/// task runs, so this is in bytes, not chunks: only a client that sends far more than it could
/// type (and usually does not read its output either) ever reaches it.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The two ends of a session's input queue: the connection handler pushes without waiting (it
/// runs inside the russh session loop, which must keep going for the session's writes to
/// progress), the session task takes.
pub fn input_queue() -> (InputSender, InputReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    (
        InputSender {
            tx,
            pending: Arc::clone(&pending),
        },
        InputReceiver { rx, pending },
    )
}

/// The connection handler's end of a session's input queue.
#[derive(Debug)]
pub struct InputSender {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<AtomicUsize>,
}

impl InputSender {
    /// Queues `bytes`; false (and dropped) when [`MAX_INPUT_BYTES`] would be exceeded or the
    /// session has ended.
    pub fn push(&self, bytes: &[u8]) -> bool {
        let before = self.pending.fetch_add(bytes.len(), Ordering::SeqCst);
        if before + bytes.len() > MAX_INPUT_BYTES || self.tx.send(bytes.to_vec()).is_err() {
            self.pending.fetch_sub(bytes.len(), Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// The session task's end of its input queue; closed when the sender is dropped (EOF, channel
/// close, disconnection).
#[derive(Debug)]
pub struct InputReceiver {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Arc<AtomicUsize>,
}

impl InputReceiver {
    /// The next chunk, or `None` once the input is closed and empty.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let bytes = self.rx.recv().await?;
        self.pending.fetch_sub(bytes.len(), Ordering::SeqCst);
        Some(bytes)
    }
}

/// Why a session ended.
enum End {
    /// On the SSH side: tell the hub.
    ByUser,
    /// The hub removed the session (`/quit`, shutdown): it already knows.
    ByHub,
}

/// Everything a session task needs.
pub struct SessionTask {
    /// The session.
    pub key: SessionKey,
    /// The SSH user name.
    pub user: String,
    /// The channel's writing half.
    pub writer: ChannelWriteHalf<Msg>,
    /// Key bytes from the connection handler; closed on EOF, channel close or disconnection.
    pub input: InputReceiver,
    /// Towards the loop.
    pub link: LoopLink,
    /// Counts this task as running until it ends (the shutdown drain waits for it).
    pub token: TaskToken,
}

impl SessionTask {
    /// Runs the session to its end and closes the channel.
    pub async fn run(mut self) {
        let (output, mut lines) = mpsc::channel(SESSION_OUTPUT_SLOTS);
        let resume = ResumeFlag::default();
        let join = SshEvent::Join {
            key: self.key,
            user: self.user.clone(),
            output,
            resume: resume.clone(),
        };
        if self.link.send(join).await {
            let end = self.serve(&mut lines, &resume).await;
            if let End::ByUser = end {
                self.link.send(SshEvent::Leave { key: self.key }).await;
            }
        }
        let _ = self.writer.eof().await;
        let _ = self.writer.close().await;
    }

    async fn serve(
        &mut self,
        lines: &mut mpsc::Receiver<SessionOutput>,
        resume: &ResumeFlag,
    ) -> End {
        let mut editor = LineEditor::new("");
        // The prompt (with the hub's sanitised nick) follows the banner; input waits for it.
        let mut joined = false;
        let mut input_open = true;
        loop {
            tokio::select! {
                item = lines.recv() => {
                    let Some(item) = item else {
                        self.write(&mut editor).await;
                        return End::ByHub;
                    };
                    show(&mut editor, item, &mut joined);
                    while let Ok(item) = lines.try_recv() {
                        show(&mut editor, item, &mut joined);
                    }
                    if resume.take() {
                        self.link.send(SshEvent::Resume { key: self.key }).await;
                    }
                }
                input = self.input.recv(), if input_open => match input {
                    Some(bytes) => editor.handle_input(&bytes),
                    None => input_open = false,
                },
            }
            let mut ended = false;
            if joined {
                while let Some(event) = editor.poll_event() {
                    match event {
                        EditorEvent::Line(line) => {
                            let key = self.key;
                            self.link.send(SshEvent::Line { key, line }).await;
                        }
                        EditorEvent::End => ended = true,
                    }
                }
                // Without more input to come, what was typed has been handled: the session ends.
                ended |= !input_open;
            }
            if !self.write(&mut editor).await || ended {
                return End::ByUser;
            }
        }
    }

    /// Sends what the editor produced; false once the channel is gone.
    async fn write(&self, editor: &mut LineEditor) -> bool {
        let bytes = editor.take_output();
        bytes.is_empty() || self.writer.data_bytes(bytes).await.is_ok()
    }
}

/// Applies one item of loop output to the editor.
fn show(editor: &mut LineEditor, item: SessionOutput, joined: &mut bool) {
    match item {
        SessionOutput::Prompt(prompt) => {
            editor.set_prompt(&prompt);
            *joined = true;
        }
        SessionOutput::Line(line) => editor.print_above(&line),
    }
}
