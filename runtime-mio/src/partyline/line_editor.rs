//! The terminal of one partyline session: a small line editor, as a state machine.
//!
//! The SSH client sends raw key bytes (its terminal is in raw mode once a pty was requested) and
//! shows whatever the server sends. [`LineEditor`] turns the first into lines and produces the
//! second: the prompt, the echo of what is typed, cursor movement, and messages printed above the
//! line being typed (NODE.md §5.3).
//!
//! Driving it, in the style of a sans-IO protocol:
//!
//! * [`LineEditor::handle_input`] queues bytes from the client;
//! * [`LineEditor::poll_event`] processes them until a line is complete
//!   ([`EditorEvent::Line`]), the user ends the session ([`EditorEvent::End`]) or the input runs
//!   out (`None`). Call it until `None` after each input and after handling each line: lines are
//!   delivered one at a time, so a prompt change made while handling a line (a `/nick`) is
//!   shown before the rest of a pasted block is echoed. The first poll after a line shows the
//!   prompt again;
//! * [`LineEditor::print_above`] prints a message above the line being typed;
//! * [`LineEditor::take_output`] returns the bytes to send to the client.
//!
//! Keys: printable text (UTF-8) is inserted and echoed; Backspace (DEL or Ctrl-H) and Delete
//! (`ESC [ 3 ~`) erase; Left/Right (`ESC [ D`/`C`, `ESC O D`/`C`, Ctrl-B/F), Home/End
//! (`ESC [ H`/`F`, `ESC O H`/`F`, `ESC [ 1 ~`/`4 ~`, Ctrl-A/E) and word-wise Ctrl-Left/Right or
//! Alt-B/F move the cursor; Ctrl-K erases to the end, Ctrl-U to the start and Ctrl-W (or
//! Alt-Backspace) the word before the cursor; Up/Down (or Ctrl-P/N) browse the input history;
//! Enter is CR, LF or CR LF. Ctrl-C, or Ctrl-D on an empty line, ends the session; Ctrl-D on a
//! non-empty line deletes the character under the cursor. Other control characters, unknown
//! escape sequences and invalid UTF-8 are ignored, and characters that [`is_forbidden`]
//! (bidirectional overrides and the like) are not inserted.
//!
//! The editor assumes a terminal [`DEFAULT_WIDTH`] columns wide, as the reference does (the size
//! the client requests is ignored), and tracks line wrapping so long lines are redrawn
//! correctly. Wide (CJK, emoji) and combining characters are measured with a built-in
//! approximation of their display width; a wide character that does not fit at the end of a
//! row goes to the next one, as terminals do.
//!
//! Everything is bounded: a line holds at most [`MAX_LINE_CHARS`] characters (further input is
//! ignored), the history [`MAX_HISTORY`] lines, and unprocessed input [`MAX_PENDING_BYTES`]
//! bytes. No input makes it panic.

use std::collections::VecDeque;
use std::io::Write as _;

use super::sanitize::is_forbidden;

/// The most characters a line can hold; further typed characters are ignored.
pub const MAX_LINE_CHARS: usize = 4096;

/// The most lines the input history keeps (the oldest goes first).
pub const MAX_HISTORY: usize = 100;

/// The terminal width assumed, in columns.
pub const DEFAULT_WIDTH: usize = 80;

/// The most input bytes kept waiting for [`LineEditor::poll_event`]; more are discarded.
pub const MAX_PENDING_BYTES: usize = 64 * 1024;

/// Longest escape sequence parameter string kept; longer sequences are still consumed whole.
const MAX_CSI_PARAMS: usize = 16;

/// What the user did, as reported by [`LineEditor::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditorEvent {
    /// Enter was pressed: the line as typed (not trimmed; may be empty).
    Line(String),
    /// Ctrl-C, or Ctrl-D on an empty line: the session ends. Nothing more comes after it.
    End,
}

/// A decoded key press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    Up,
    Down,
    KillToEnd,
    KillToStart,
    KillWord,
    Interrupt,
    Eof,
}

/// Where the key decoder is between bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decode {
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`: parameter and intermediate bytes so far (at most [`MAX_CSI_PARAMS`]).
    Csi(Vec<u8>),
    /// After `ESC O`.
    Ss3,
    /// Inside a multi-byte UTF-8 character: the bytes so far and how many it needs.
    Utf8 {
        bytes: [u8; 4],
        len: usize,
        need: usize,
    },
}

/// The line editor of one partyline session. See the module documentation.
#[derive(Debug)]
pub struct LineEditor {
    prompt: String,
    line: Vec<char>,
    /// Insertion point, in characters.
    cursor: usize,
    /// Whether the prompt and the line are on screen (false between a line and the next poll).
    shown: bool,
    /// Where the terminal cursor is, in columns from the start of the prompt (when shown).
    term_pos: usize,
    width: usize,
    history: VecDeque<String>,
    /// Index into the history while browsing it, 0 being the newest entry.
    history_pos: Option<usize>,
    /// The line being typed before browsing started.
    draft: Vec<char>,
    input: VecDeque<u8>,
    decode: Decode,
    /// The previous byte was CR (so a following LF is part of the same Enter).
    after_cr: bool,
    ended: bool,
    output: Vec<u8>,
}

impl LineEditor {
    /// An editor showing `prompt` (such as `[alice]> `). Nothing is written until the first
    /// [`LineEditor::poll_event`] or [`LineEditor::print_above`].
    pub fn new(prompt: &str) -> Self {
        LineEditor {
            prompt: prompt.to_string(),
            line: Vec::new(),
            cursor: 0,
            shown: false,
            term_pos: 0,
            width: DEFAULT_WIDTH,
            history: VecDeque::new(),
            history_pos: None,
            draft: Vec::new(),
            input: VecDeque::new(),
            decode: Decode::Ground,
            after_cr: false,
            ended: false,
            output: Vec::new(),
        }
    }

    // ----- getters -----

    /// The current prompt.
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The line being typed.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// The insertion point, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The input history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// The terminal width assumed, in columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the session ended ([`EditorEvent::End`] was returned).
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether there are bytes for the client ([`LineEditor::take_output`]).
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    // ----- input -----

    /// Queues bytes received from the client. Ignored after the session ended; bytes beyond
    /// [`MAX_PENDING_BYTES`] waiting bytes are discarded.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if self.ended {
            return;
        }
        let room = MAX_PENDING_BYTES.saturating_sub(self.input.len());
        self.input.extend(&bytes[..bytes.len().min(room)]);
    }

    /// Processes queued input until a line is complete, the session ends, or the input runs
    /// out (`None`). Shows the prompt first if it is not on screen. Echo and redraws go to the
    /// output ([`LineEditor::take_output`]).
    pub fn poll_event(&mut self) -> Option<EditorEvent> {
        if self.ended {
            return None;
        }
        if !self.shown {
            self.shown = true;
            self.term_pos = 0;
            self.draw_area();
        }
        while let Some(byte) = self.input.pop_front() {
            let Some(key) = self.decode(byte) else {
                continue;
            };
            if let Some(event) = self.apply(key) {
                return Some(event);
            }
        }
        None
    }

    // ----- output -----

    /// Prints `message` above the line being typed: clears the prompt line, writes the message
    /// and a line ending (every LF in it becomes CR LF), then redraws the prompt and the partial
    /// input with the cursor where it was. Between a line and the next poll, and after the
    /// session ended (prompt not on screen), only the message is written. The message is
    /// written as given: sanitise untrusted text first.
    pub fn print_above(&mut self, message: &str) {
        if self.shown {
            self.clear_area();
        }
        let mut previous = '\0';
        for c in message.chars() {
            if c == '\n' && previous != '\r' {
                self.output.push(b'\r');
            }
            self.push_char(c);
            previous = c;
        }
        self.output.extend_from_slice(b"\r\n");
        if self.shown {
            self.draw_area();
        }
    }

    /// Changes the prompt; redraws it at once if it is on screen and different.
    pub fn set_prompt(&mut self, prompt: &str) {
        if prompt == self.prompt {
            return;
        }
        if self.shown && !self.ended {
            self.clear_area();
            self.prompt = prompt.to_string();
            self.draw_area();
        } else {
            self.prompt = prompt.to_string();
        }
    }

    /// Changes the terminal width assumed (2 to 65,535 columns), redrawing the line if shown.
    pub fn set_width(&mut self, columns: usize) {
        let columns = columns.clamp(2, 65_535);
        if columns == self.width {
            return;
        }
        if self.shown && !self.ended {
            self.clear_area();
            self.width = columns;
            self.draw_area();
        } else {
            self.width = columns;
        }
    }

    /// The bytes to send to the client since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    // ----- decoding -----

    /// Feeds one byte to the key decoder.
    fn decode(&mut self, byte: u8) -> Option<Key> {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        loop {
            match &mut self.decode {
                Decode::Ground => {
                    return match byte {
                        0x1b => {
                            self.decode = Decode::Escape;
                            None
                        }
                        b'\r' => {
                            self.after_cr = true;
                            Some(Key::Enter)
                        }
                        b'\n' => (!after_cr).then_some(Key::Enter),
                        0x7f | 0x08 => Some(Key::Backspace),
                        0x01 => Some(Key::Home),
                        0x02 => Some(Key::Left),
                        0x03 => Some(Key::Interrupt),
                        0x04 => Some(Key::Eof),
                        0x05 => Some(Key::End),
                        0x06 => Some(Key::Right),
                        0x0b => Some(Key::KillToEnd),
                        0x0e => Some(Key::Down),
                        0x10 => Some(Key::Up),
                        0x15 => Some(Key::KillToStart),
                        0x17 => Some(Key::KillWord),
                        0x20..=0x7e => Some(Key::Char(char::from(byte))),
                        0xc2..=0xf4 => {
                            let need = match byte {
                                0xc2..=0xdf => 2,
                                0xe0..=0xef => 3,
                                _ => 4,
                            };
                            self.decode = Decode::Utf8 {
                                bytes: [byte, 0, 0, 0],
                                len: 1,
                                need,
                            };
                            None
                        }
                        _ => None,
                    };
                }
                Decode::Utf8 { bytes, len, need } => {
                    if !(0x80..=0xbf).contains(&byte) {
                        // Truncated character: drop it and read this byte afresh.
                        self.decode = Decode::Ground;
                        continue;
                    }
                    bytes[*len] = byte;
                    *len += 1;
                    if *len < *need {
                        return None;
                    }
                    let key = std::str::from_utf8(&bytes[..*len])
                        .ok()
                        .and_then(|s| s.chars().next())
                        .map(Key::Char);
                    self.decode = Decode::Ground;
                    return key;
                }
                Decode::Escape => {
                    let (next, key) = match byte {
                        b'[' => (Decode::Csi(Vec::new()), None),
                        b'O' => (Decode::Ss3, None),
                        b'b' => (Decode::Ground, Some(Key::WordLeft)),
                        b'f' => (Decode::Ground, Some(Key::WordRight)),
                        0x7f | 0x08 => (Decode::Ground, Some(Key::KillWord)),
                        0x1b => (Decode::Escape, None),
                        0x20..=0x7e => (Decode::Ground, None),
                        _ => {
                            self.decode = Decode::Ground;
                            continue;
                        }
                    };
                    self.decode = next;
                    return key;
                }
                Decode::Ss3 => {
                    if !(0x40..=0x7e).contains(&byte) {
                        self.decode = Decode::Ground;
                        continue;
                    }
                    self.decode = Decode::Ground;
                    return match byte {
                        b'A' => Some(Key::Up),
                        b'B' => Some(Key::Down),
                        b'C' => Some(Key::Right),
                        b'D' => Some(Key::Left),
                        b'H' => Some(Key::Home),
                        b'F' => Some(Key::End),
                        _ => None,
                    };
                }
                Decode::Csi(params) => match byte {
                    0x20..=0x3f => {
                        if params.len() < MAX_CSI_PARAMS {
                            params.push(byte);
                        }
                        return None;
                    }
                    0x40..=0x7e => {
                        let key = csi_key(params, byte);
                        self.decode = Decode::Ground;
                        return key;
                    }
                    _ => {
                        self.decode = Decode::Ground;
                        continue;
                    }
                },
            }
        }
    }

    // ----- editing -----

    /// Applies one key; returns an event when a line is complete or the session ends.
    fn apply(&mut self, key: Key) -> Option<EditorEvent> {
        match key {
            Key::Char(c) => self.insert(c),
            Key::Enter => {
                let line: String = self.line.iter().collect();
                self.finish_line();
                if !line.trim().is_empty() && self.history.back() != Some(&line) {
                    if self.history.len() >= MAX_HISTORY {
                        self.history.pop_front();
                    }
                    self.history.push_back(line.clone());
                }
                return Some(EditorEvent::Line(line));
            }
            Key::Interrupt => return Some(self.end()),
            Key::Eof if self.line.is_empty() => return Some(self.end()),
            Key::Eof | Key::Delete => {
                if self.cursor < self.line.len() {
                    self.line.remove(self.cursor);
                    self.rewrite_from(self.cursor);
                }
            }
            Key::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.line.remove(self.cursor);
                    self.rewrite_from(self.cursor);
                }
            }
            Key::Left => self.move_cursor(self.cursor.saturating_sub(1)),
            Key::Right => self.move_cursor((self.cursor + 1).min(self.line.len())),
            Key::Home => self.move_cursor(0),
            Key::End => self.move_cursor(self.line.len()),
            Key::WordLeft => self.move_cursor(self.word_start()),
            Key::WordRight => self.move_cursor(self.word_end()),
            Key::KillToEnd => {
                if self.cursor < self.line.len() {
                    self.line.truncate(self.cursor);
                    self.rewrite_from(self.cursor);
                }
            }
            Key::KillToStart => {
                if self.cursor > 0 {
                    self.line.drain(..self.cursor);
                    self.cursor = 0;
                    self.rewrite_from(0);
                }
            }
            Key::KillWord => {
                let start = self.word_start();
                if start < self.cursor {
                    self.line.drain(start..self.cursor);
                    self.cursor = start;
                    self.rewrite_from(start);
                }
            }
            Key::Up => {
                let next = match self.history_pos {
                    None if !self.history.is_empty() => Some(0),
                    Some(pos) if pos + 1 < self.history.len() => Some(pos + 1),
                    _ => None,
                };
                if let Some(pos) = next {
                    if self.history_pos.is_none() {
                        self.draft = std::mem::take(&mut self.line);
                    }
                    self.history_pos = Some(pos);
                    self.recall(pos);
                }
            }
            Key::Down => match self.history_pos {
                Some(0) => {
                    self.history_pos = None;
                    self.line = std::mem::take(&mut self.draft);
                    self.cursor = self.line.len();
                    self.rewrite_from(0);
                }
                Some(pos) => {
                    self.history_pos = Some(pos - 1);
                    self.recall(pos - 1);
                }
                None => {}
            },
        }
        None
    }

    /// Inserts `c` at the cursor, unless it is not allowed or the line is full.
    fn insert(&mut self, c: char) {
        if is_forbidden(c) || self.line.len() >= MAX_LINE_CHARS {
            return;
        }
        self.line.insert(self.cursor, c);
        self.cursor += 1;
        if self.cursor == self.line.len() {
            // Typing at the end: plain echo.
            self.push_char(c);
            self.term_pos = self.advance(self.term_pos, c);
            self.wrap_if_needed(char_width(c) > 0);
        } else {
            self.rewrite_from(self.cursor - 1);
        }
    }

    /// Shows history entry `pos` (0 = newest) as the line, cursor at its end.
    fn recall(&mut self, pos: usize) {
        let Some(index) = self.history.len().checked_sub(pos + 1) else {
            return;
        };
        let Some(entry) = self.history.get(index) else {
            return;
        };
        self.line = entry.chars().collect();
        self.cursor = self.line.len();
        self.rewrite_from(0);
    }

    /// Enter: moves below the line and forgets it; the prompt comes back at the next poll.
    fn finish_line(&mut self) {
        self.leave_area();
        self.line.clear();
        self.cursor = 0;
        self.history_pos = None;
        self.draft.clear();
    }

    /// Ctrl-C or Ctrl-D: ends the session.
    fn end(&mut self) -> EditorEvent {
        self.leave_area();
        self.ended = true;
        self.input.clear();
        EditorEvent::End
    }

    /// Start of the word before the cursor (spaces, then non-spaces, backwards).
    fn word_start(&self) -> usize {
        let mut i = self.cursor;
        while i > 0 && self.line[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.line[i - 1].is_whitespace() {
            i -= 1;
        }
        i
    }

    /// End of the word after the cursor (spaces, then non-spaces, forwards).
    fn word_end(&self) -> usize {
        let mut i = self.cursor;
        while i < self.line.len() && self.line[i].is_whitespace() {
            i += 1;
        }
        while i < self.line.len() && !self.line[i].is_whitespace() {
            i += 1;
        }
        i
    }

    // ----- rendering -----
    //
    // Positions are display columns counted from the start of the prompt; with `width` columns
    // per row, position p is on row p / width, column p % width. After writing text that ends
    // exactly at the right margin, CR LF is written so the terminal cursor really is at the
    // start of the next row (terminals otherwise hold it at the margin).

    /// Display columns of the prompt and the first `chars` characters of the line.
    fn position(&self, chars: usize) -> usize {
        let line = &self.line[..chars.min(self.line.len())];
        self.prompt
            .chars()
            .chain(line.iter().copied())
            .fold(0, |pos, c| self.advance(pos, c))
    }

    /// Position after writing `c` at position `pos`. A wide character that does not fit in the
    /// last column is moved to the next row by the terminal, leaving that column empty.
    fn advance(&self, pos: usize, c: char) -> usize {
        let w = char_width(c);
        if w == 2 && pos % self.width == self.width - 1 {
            pos + 3
        } else {
            pos + w
        }
    }

    /// Moves the insertion point to `to` and the terminal cursor with it.
    fn move_cursor(&mut self, to: usize) {
        self.cursor = to;
        let target = self.position(to);
        self.move_term(target);
    }

    /// Moves the terminal cursor to position `to`.
    fn move_term(&mut self, to: usize) {
        let (from_row, from_col) = (self.term_pos / self.width, self.term_pos % self.width);
        let (to_row, to_col) = (to / self.width, to % self.width);
        if to_row < from_row {
            let _ = write!(self.output, "\x1b[{}A", from_row - to_row);
        } else if to_row > from_row {
            let _ = write!(self.output, "\x1b[{}B", to_row - from_row);
        }
        if to_col < from_col {
            let _ = write!(self.output, "\x1b[{}D", from_col - to_col);
        } else if to_col > from_col {
            let _ = write!(self.output, "\x1b[{}C", to_col - from_col);
        }
        self.term_pos = to;
    }

    /// Redraws the line from character `start` on (what precedes it is unchanged on screen),
    /// then puts the terminal cursor at the insertion point.
    fn rewrite_from(&mut self, start: usize) {
        let from = self.position(start);
        self.move_term(from);
        self.output.extend_from_slice(b"\x1b[J");
        let mut wrote = false;
        for i in start..self.line.len() {
            let c = self.line[i];
            self.push_char(c);
            self.term_pos = self.advance(self.term_pos, c);
            wrote = true;
        }
        self.wrap_if_needed(wrote);
        let target = self.position(self.cursor);
        self.move_term(target);
    }

    /// Writes the prompt and the line from the start of the (cleared) area; cursor at the
    /// insertion point.
    fn draw_area(&mut self) {
        self.output.extend_from_slice(self.prompt.as_bytes());
        self.term_pos = self.prompt.chars().fold(0, |pos, c| self.advance(pos, c));
        for i in 0..self.line.len() {
            let c = self.line[i];
            self.push_char(c);
            self.term_pos = self.advance(self.term_pos, c);
        }
        self.wrap_if_needed(true);
        let target = self.position(self.cursor);
        self.move_term(target);
    }

    /// Erases the prompt and the line, leaving the terminal cursor at the start of the area.
    fn clear_area(&mut self) {
        let rows_up = self.term_pos / self.width;
        if rows_up > 0 {
            let _ = write!(self.output, "\x1b[{rows_up}A");
        }
        // Text ending exactly at the margin still occupies a single row.
        let multi_row = self.position(self.line.len()) > self.width;
        self.output
            .extend_from_slice(if multi_row { b"\r\x1b[J" } else { b"\r\x1b[K" });
        self.term_pos = 0;
    }

    /// Moves the terminal cursor below the line (for Enter and end of session).
    fn leave_area(&mut self) {
        if !self.shown {
            return;
        }
        let end = self.position(self.line.len());
        self.move_term(end);
        if end == 0 || end % self.width != 0 {
            self.output.extend_from_slice(b"\r\n");
        }
        self.shown = false;
        self.term_pos = 0;
    }

    /// After writing up to the right margin, moves to the next row explicitly.
    fn wrap_if_needed(&mut self, wrote: bool) {
        if wrote && self.term_pos > 0 && self.term_pos % self.width == 0 {
            self.output.extend_from_slice(b"\r\n");
        }
    }

    fn push_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.output
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// The key of a complete CSI sequence `ESC [ params final`.
fn csi_key(params: &[u8], last: u8) -> Option<Key> {
    // `1;5` (Ctrl), `1;3` (Alt) and the like: a modifier other than none or Shift.
    let modified = params.starts_with(b"1;") && params.len() > 2 && params != b"1;2";
    match (params, last) {
        (_, b'A') => Some(Key::Up),
        (_, b'B') => Some(Key::Down),
        (_, b'C') if modified => Some(Key::WordRight),
        (_, b'D') if modified => Some(Key::WordLeft),
        (_, b'C') => Some(Key::Right),
        (_, b'D') => Some(Key::Left),
        (_, b'H') => Some(Key::Home),
        (_, b'F') => Some(Key::End),
        (b"1" | b"7", b'~') => Some(Key::Home),
        (b"4" | b"8", b'~') => Some(Key::End),
        (b"3", b'~') => Some(Key::Delete),
        _ => None,
    }
}

/// Display width of `c` in a terminal: 0 for combining marks and joiners, 2 for East Asian
/// wide characters and most emoji, else 1. An approximation of `wcwidth` (Unicode 15) that
/// covers the common cases.
fn char_width(c: char) -> usize {
    let cp = u32::from(c);
    if cp < 0x300 {
        return 1;
    }
    let zero = matches!(cp,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x200B..=0x200F | 0x20D0..=0x20FF | 0x302A..=0x302D | 0x3099..=0x309A
        | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0xE0100..=0xE01EF);
    if zero {
        return 0;
    }
    let wide = matches!(cp,
        0x1100..=0x115F | 0x231A..=0x231B | 0x2329..=0x232A | 0x23E9..=0x23EC | 0x23F0
        | 0x23F3 | 0x25FD..=0x25FE | 0x2614..=0x2615 | 0x2648..=0x2653 | 0x267F | 0x2693
        | 0x26A1 | 0x26AA..=0x26AB | 0x26BD..=0x26BE | 0x26C4..=0x26C5 | 0x26CE | 0x26D4
        | 0x26EA | 0x26F2..=0x26F3 | 0x26F5 | 0x26FA | 0x26FD | 0x2705 | 0x270A..=0x270B
        | 0x2728 | 0x274C | 0x274E | 0x2753..=0x2755 | 0x2757 | 0x2795..=0x2797 | 0x27B0
        | 0x27BF | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x2E80..=0x303E | 0x3041..=0x33FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE10..=0xFE19 | 0xFE30..=0xFE6F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F004 | 0x1F0CF | 0x1F18E | 0x1F191..=0x1F19A
        | 0x1F200..=0x1F251 | 0x1F300..=0x1F64F | 0x1F680..=0x1F6FF | 0x1F7E0..=0x1F7EB
        | 0x1F900..=0x1F9FF | 0x1FA70..=0x1FAFF | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: &str = "[a]> ";

    /// Feeds `bytes` and polls until `None`; returns the events and the output.
    fn run(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<EditorEvent>, String) {
        ed.handle_input(bytes);
        let mut events = Vec::new();
        while let Some(event) = ed.poll_event() {
            events.push(event);
        }
        (events, String::from_utf8(ed.take_output()).unwrap())
    }

    /// An editor with the prompt shown and `typed` typed; output drained.
    fn typed(typed: &str) -> LineEditor {
        let mut ed = LineEditor::new(P);
        let (events, _) = run(&mut ed, typed.as_bytes());
        assert!(events.is_empty());
        ed
    }

    fn line(s: &str) -> EditorEvent {
        EditorEvent::Line(s.to_string())
    }

    #[test]
    fn first_poll_shows_prompt() {
        let mut ed = LineEditor::new(P);
        assert!(!ed.has_output());
        assert_eq!(run(&mut ed, b""), (vec![], P.to_string()));
        assert_eq!(run(&mut ed, b""), (vec![], String::new()));
        assert_eq!(ed.prompt(), P);
        assert_eq!(ed.width(), DEFAULT_WIDTH);
    }

    #[test]
    fn printable_input_is_echoed() {
        let mut ed = typed("");
        assert_eq!(run(&mut ed, b"hi there"), (vec![], "hi there".to_string()));
        assert_eq!(ed.line(), "hi there");
        assert_eq!(ed.cursor(), 8);
    }

    #[test]
    fn utf8_is_decoded_across_chunks() {
        let mut ed = typed("");
        let text = "é日🎉ñ";
        let mut echo = String::new();
        for b in text.as_bytes() {
            echo += &run(&mut ed, &[*b]).1;
        }
        assert_eq!(echo, text);
        assert_eq!(ed.line(), text);
        assert_eq!(ed.cursor(), 4);
    }

    #[test]
    fn invalid_utf8_is_ignored() {
        let mut ed = typed("");
        run(
            &mut ed,
            b"a\xffb\x80c\xe6\x97d\xc0\xafe\xed\xa0\x80f\xf4\x90\x80\x80g",
        );
        assert_eq!(ed.line(), "abcdefg");
    }

    #[test]
    fn controls_and_forbidden_characters_are_not_inserted() {
        let mut ed = typed("");
        let (_, out) = run(
            &mut ed,
            "a\0\t\x07\x0c\x1fb\u{202E}c\u{2066}d\u{200B}e".as_bytes(),
        );
        assert_eq!(ed.line(), "abcde");
        assert_eq!(out, "abcde");
    }

    #[test]
    fn enter_as_cr_lf_or_crlf_gives_one_line_each() {
        let mut ed = typed("one");
        let (events, out) = run(&mut ed, b"\r");
        assert_eq!(events, [line("one")]);
        assert_eq!(out, format!("\r\n{P}"));
        assert_eq!(run(&mut ed, b"two\n").0, [line("two")]);
        assert_eq!(run(&mut ed, b"three\r\n").0, [line("three")]);
        assert_eq!(
            run(&mut ed, b"x\r\n\r\ny\n\nz\r\r").0,
            [
                line("x"),
                line(""),
                line("y"),
                line(""),
                line("z"),
                line("")
            ]
        );
        // CR and LF in separate packets are still one Enter.
        assert_eq!(run(&mut ed, b"four\r").0, [line("four")]);
        assert_eq!(run(&mut ed, b"\nfive\r").0, [line("five")]);
        assert_eq!(ed.line(), "");
        assert_eq!(ed.cursor(), 0);
    }

    #[test]
    fn enter_with_cursor_inside_the_line_returns_the_whole_line() {
        let mut ed = typed("hello");
        run(&mut ed, b"\x1b[D\x1b[D");
        let (events, out) = run(&mut ed, b"\r");
        assert_eq!(events, [line("hello")]);
        assert_eq!(out, format!("\x1b[2C\r\n{P}"));
    }

    #[test]
    fn lines_are_delivered_one_at_a_time_and_the_prompt_follows_set_prompt() {
        let mut ed = typed("");
        ed.handle_input(b"/nick bob\rhello\r");
        assert_eq!(ed.poll_event(), Some(line("/nick bob")));
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            "/nick bob\r\n"
        );
        ed.set_prompt("[bob]> ");
        assert!(!ed.has_output(), "not shown until the next poll");
        ed.print_above("* a is now known as bob");
        assert_eq!(ed.poll_event(), Some(line("hello")));
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            "* a is now known as bob\r\n[bob]> hello\r\n"
        );
        assert_eq!(ed.poll_event(), None);
        assert_eq!(String::from_utf8(ed.take_output()).unwrap(), "[bob]> ");
    }

    #[test]
    fn backspace_and_ctrl_h_erase_before_cursor() {
        let mut ed = typed("abc");
        assert_eq!(run(&mut ed, b"\x7f").1, "\x1b[1D\x1b[J");
        assert_eq!(ed.line(), "ab");
        assert_eq!(run(&mut ed, b"\x08").1, "\x1b[1D\x1b[J");
        assert_eq!(ed.line(), "a");
        run(&mut ed, b"\x7f\x7f\x7f");
        assert_eq!(ed.line(), "");
        assert_eq!(run(&mut ed, b"\x7f").1, "");
        // In the middle: the rest of the line is redrawn.
        let mut ed = typed("abcd");
        let (_, out) = run(&mut ed, b"\x1b[D\x1b[D\x7f");
        assert_eq!(ed.line(), "acd");
        assert_eq!(ed.cursor(), 1);
        assert_eq!(out, "\x1b[1D\x1b[1D\x1b[1D\x1b[Jcd\x1b[2D");
    }

    #[test]
    fn delete_key_and_ctrl_d_erase_under_cursor() {
        let mut ed = typed("abc");
        run(&mut ed, b"\x01");
        let (events, out) = run(&mut ed, b"\x1b[3~");
        assert!(events.is_empty());
        assert_eq!(ed.line(), "bc");
        assert_eq!(out, "\x1b[Jbc\x1b[2D");
        let (events, _) = run(&mut ed, b"\x04");
        assert!(events.is_empty(), "Ctrl-D on a non-empty line does not end");
        assert_eq!(ed.line(), "c");
        run(&mut ed, b"\x05\x04\x1b[3~");
        assert_eq!(ed.line(), "c", "nothing under the cursor at the end");
        assert!(!ed.is_ended());
    }

    #[test]
    fn arrows_move_the_cursor() {
        let mut ed = typed("abc");
        for left in [&b"\x1b[D"[..], b"\x1bOD", b"\x02"] {
            let before = ed.cursor();
            assert_eq!(run(&mut ed, left).1, "\x1b[1D");
            assert_eq!(ed.cursor(), before - 1);
        }
        assert_eq!(run(&mut ed, b"\x1b[D").1, "", "already at the start");
        assert_eq!(ed.cursor(), 0);
        for right in [&b"\x1b[C"[..], b"\x1bOC", b"\x06"] {
            let before = ed.cursor();
            assert_eq!(run(&mut ed, right).1, "\x1b[1C");
            assert_eq!(ed.cursor(), before + 1);
        }
        assert_eq!(run(&mut ed, b"\x1b[C").1, "", "already at the end");
        // Insertion in the middle redraws the rest.
        run(&mut ed, b"\x1b[D\x1b[D");
        let (_, out) = run(&mut ed, b"X");
        assert_eq!(ed.line(), "aXbc");
        assert_eq!(ed.cursor(), 2);
        assert_eq!(out, "\x1b[JXbc\x1b[2D");
    }

    #[test]
    fn home_and_end_in_all_forms() {
        let homes: [&[u8]; 5] = [b"\x1b[H", b"\x1bOH", b"\x1b[1~", b"\x1b[7~", b"\x01"];
        let ends: [&[u8]; 5] = [b"\x1b[F", b"\x1bOF", b"\x1b[4~", b"\x1b[8~", b"\x05"];
        let mut ed = typed("hello");
        for (home, end) in homes.iter().zip(ends) {
            assert_eq!(run(&mut ed, home).1, "\x1b[5D");
            assert_eq!(ed.cursor(), 0);
            assert_eq!(run(&mut ed, end).1, "\x1b[5C");
            assert_eq!(ed.cursor(), 5);
        }
    }

    #[test]
    fn word_movement() {
        let mut ed = typed("foo bar  baz");
        for key in [&b"\x1b[1;5D"[..], b"\x1bb", b"\x1b[1;3D"] {
            run(&mut ed, b"\x05");
            run(&mut ed, key);
            assert_eq!(ed.cursor(), 9);
        }
        run(&mut ed, b"\x1bb");
        assert_eq!(ed.cursor(), 4);
        run(&mut ed, b"\x1bb\x1bb");
        assert_eq!(ed.cursor(), 0);
        for key in [&b"\x1b[1;5C"[..], b"\x1bf"] {
            run(&mut ed, b"\x01");
            run(&mut ed, key);
            assert_eq!(ed.cursor(), 3);
        }
        run(&mut ed, b"\x1bf\x1bf\x1bf");
        assert_eq!(ed.cursor(), 12);
        // Shift-Right is a plain Right.
        run(&mut ed, b"\x01\x1b[1;2C");
        assert_eq!(ed.cursor(), 1);
    }

    #[test]
    fn ctrl_k_erases_to_end() {
        let mut ed = typed("hello world");
        run(&mut ed, b"\x1b[1;5D");
        let (_, out) = run(&mut ed, b"\x0b");
        assert_eq!(ed.line(), "hello ");
        assert_eq!(ed.cursor(), 6);
        assert_eq!(out, "\x1b[J");
        assert_eq!(run(&mut ed, b"\x0b").1, "", "nothing after the cursor");
    }

    #[test]
    fn ctrl_u_erases_to_start() {
        let mut ed = typed("hello world");
        run(&mut ed, b"\x1b[1;5D");
        let (_, out) = run(&mut ed, b"\x15");
        assert_eq!(ed.line(), "world");
        assert_eq!(ed.cursor(), 0);
        assert_eq!(out, "\x1b[6D\x1b[Jworld\x1b[5D");
        assert_eq!(run(&mut ed, b"\x15").1, "", "nothing before the cursor");
    }

    #[test]
    fn ctrl_w_erases_the_word_before_the_cursor() {
        let mut ed = typed("foo bar  ");
        let (_, out) = run(&mut ed, b"\x17");
        assert_eq!(ed.line(), "foo ");
        assert_eq!(out, "\x1b[5D\x1b[J");
        run(&mut ed, b"\x17");
        assert_eq!(ed.line(), "");
        assert_eq!(run(&mut ed, b"\x17").1, "");
        // Alt-Backspace does the same; in the middle the rest is kept.
        let mut ed = typed("one two three");
        run(&mut ed, b"\x1bb");
        run(&mut ed, b"\x1b\x7f");
        assert_eq!(ed.line(), "one three");
        assert_eq!(ed.cursor(), 4);
    }

    #[test]
    fn history_up_and_down() {
        let mut ed = typed("");
        for l in ["one", "two", "  ", "two", "three"] {
            run(&mut ed, format!("{l}\r").as_bytes());
        }
        assert_eq!(ed.history().collect::<Vec<_>>(), ["one", "two", "three"]);
        run(&mut ed, b"draft");
        let (_, out) = run(&mut ed, b"\x1b[A");
        assert_eq!(ed.line(), "three");
        assert_eq!(out, "\x1b[5D\x1b[Jthree");
        run(&mut ed, b"\x1bOA");
        assert_eq!(ed.line(), "two");
        run(&mut ed, b"\x10");
        assert_eq!(ed.line(), "one");
        assert_eq!(run(&mut ed, b"\x1b[A").1, "", "oldest reached");
        assert_eq!(ed.line(), "one");
        run(&mut ed, b"\x1b[B");
        assert_eq!(ed.line(), "two");
        run(&mut ed, b"\x1bOB\x0e");
        assert_eq!(ed.line(), "draft", "the draft comes back");
        assert_eq!(ed.cursor(), 5);
        assert_eq!(run(&mut ed, b"\x1b[B").1, "", "nothing below the draft");
        // A recalled line can be edited and sent.
        run(&mut ed, b"\x15\x1b[A\x7f\x7fee\r");
        assert_eq!(ed.history().last(), Some("three"));
        let mut empty = typed("");
        assert_eq!(run(&mut empty, b"\x1b[A\x1b[B").1, "");
    }

    #[test]
    fn history_is_bounded() {
        let mut ed = typed("");
        for i in 0..MAX_HISTORY + 20 {
            run(&mut ed, format!("l{i}\r").as_bytes());
        }
        let history: Vec<_> = ed.history().collect();
        assert_eq!(history.len(), MAX_HISTORY);
        assert_eq!(history[0], "l20");
        assert_eq!(*history.last().unwrap(), format!("l{}", MAX_HISTORY + 19));
    }

    #[test]
    fn ctrl_c_ends_the_session() {
        let mut ed = typed("half a line");
        let (events, out) = run(&mut ed, b"\x03more\r");
        assert_eq!(events, [EditorEvent::End]);
        assert_eq!(out, "\r\n");
        assert!(ed.is_ended());
        assert_eq!(run(&mut ed, b"x\r"), (vec![], String::new()));
    }

    #[test]
    fn ctrl_d_on_empty_line_ends_the_session() {
        let mut ed = typed("");
        assert_eq!(run(&mut ed, b"\x04").0, [EditorEvent::End]);
        assert!(ed.is_ended());
        assert_eq!(ed.poll_event(), None);
        // Messages can still be printed, without a prompt.
        ed.print_above("bye");
        assert_eq!(String::from_utf8(ed.take_output()).unwrap(), "bye\r\n");
    }

    #[test]
    fn line_length_is_bounded() {
        let mut ed = typed("");
        run(&mut ed, &[b'a'; MAX_LINE_CHARS + 100]);
        assert_eq!(ed.line().len(), MAX_LINE_CHARS);
        run(&mut ed, b"\x01b");
        assert_eq!(
            ed.line().len(),
            MAX_LINE_CHARS,
            "no insertion in the middle either"
        );
        let (events, _) = run(&mut ed, b"\r");
        assert_eq!(events, [line(&"a".repeat(MAX_LINE_CHARS))]);
    }

    #[test]
    fn pending_input_is_bounded() {
        let mut ed = typed("");
        ed.handle_input(&vec![b'x'; MAX_PENDING_BYTES]);
        ed.handle_input(b"\r");
        assert_eq!(ed.poll_event(), None, "the CR did not fit");
    }

    #[test]
    fn unknown_escape_sequences_are_ignored() {
        let mut ed = typed("");
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 500));
        long.push(b'~');
        run(&mut ed, &long);
        run(
            &mut ed,
            b"\x1b[200~a\x1b[201~\x1bx\x1b[5~\x1b[2Z\x1bOZb\x1b\x1b[Cc",
        );
        assert_eq!(ed.line(), "abc");
        // A sequence interrupted by a control byte: the byte counts.
        run(&mut ed, b"\x1b[1\rd");
        assert_eq!(ed.line(), "d");
    }

    #[test]
    fn escape_sequences_split_across_chunks() {
        let mut ed = typed("ab");
        run(&mut ed, b"\x1b");
        run(&mut ed, b"[");
        run(&mut ed, b"D");
        assert_eq!(ed.cursor(), 1);
        run(&mut ed, b"\x1bO");
        run(&mut ed, b"H");
        assert_eq!(ed.cursor(), 0);
    }

    #[test]
    fn print_above_redraws_prompt_and_partial_input() {
        let mut ed = typed("hel");
        ed.print_above("[bob] hi");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            format!("\r\x1b[K[bob] hi\r\n{P}hel")
        );
        run(&mut ed, b"\x1b[D\x1b[D");
        ed.print_above("x");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            format!("\r\x1b[Kx\r\n{P}hel\x1b[2D")
        );
        assert_eq!(ed.line(), "hel");
        assert_eq!(ed.cursor(), 1);
    }

    #[test]
    fn print_above_turns_bare_lf_into_crlf() {
        let mut ed = typed("");
        ed.print_above("a\nb\r\nc\n");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            format!("\r\x1b[Ka\r\nb\r\nc\r\n\r\n{P}")
        );
        ed.print_above("");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            format!("\r\x1b[K\r\n{P}")
        );
    }

    #[test]
    fn print_above_before_prompt_is_shown() {
        let mut ed = LineEditor::new(P);
        for l in ["Welcome to n partyline!", "Type /help for commands.", ""] {
            ed.print_above(l);
        }
        assert_eq!(ed.poll_event(), None);
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            format!("Welcome to n partyline!\r\nType /help for commands.\r\n\r\n{P}")
        );
    }

    #[test]
    fn quit_leaves_no_dangling_prompt() {
        let mut ed = typed("");
        ed.handle_input(b"/quit\r");
        assert_eq!(ed.poll_event(), Some(line("/quit")));
        assert_eq!(String::from_utf8(ed.take_output()).unwrap(), "/quit\r\n");
        ed.print_above("Goodbye.");
        assert_eq!(String::from_utf8(ed.take_output()).unwrap(), "Goodbye.\r\n");
    }

    #[test]
    fn set_prompt_redraws_when_shown() {
        let mut ed = typed("hel");
        ed.set_prompt("[bob]> ");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            "\r\x1b[K[bob]> hel"
        );
        ed.set_prompt("[bob]> ");
        assert!(!ed.has_output(), "same prompt: nothing to do");
        assert_eq!(ed.prompt(), "[bob]> ");
    }

    #[test]
    fn wrapping_at_the_right_margin() {
        let mut ed = LineEditor::new("> ");
        ed.set_width(10);
        run(&mut ed, b"");
        // 2 + 8 = 10 columns: an explicit CR LF moves to the next row.
        assert_eq!(run(&mut ed, b"abcdefgh").1, "abcdefgh\r\n");
        assert_eq!(run(&mut ed, b"\x7f").1, "\x1b[1A\x1b[9C\x1b[J");
        assert_eq!(run(&mut ed, b"hij").1, "h\r\nij");
        // Home goes up a row.
        assert_eq!(run(&mut ed, b"\x01").1, "\x1b[1A");
        // A message above clears both rows.
        ed.print_above("m");
        assert_eq!(
            String::from_utf8(ed.take_output()).unwrap(),
            "\r\x1b[Jm\r\n> abcdefghij\x1b[1A"
        );
        assert_eq!(run(&mut ed, b"\r").1, "\x1b[1B\r\n> ");
    }

    #[test]
    fn wide_characters_count_two_columns() {
        let mut ed = typed("日本");
        assert_eq!(run(&mut ed, b"\x1b[D").1, "\x1b[2D");
        assert_eq!(run(&mut ed, b"\x01").1, "\x1b[2D");
        assert_eq!(char_width('a'), 1);
        assert_eq!(char_width('é'), 1);
        assert_eq!(char_width('日'), 2);
        assert_eq!(char_width('🎉'), 2);
        assert_eq!(char_width('\u{301}'), 0);
        assert_eq!(char_width('\u{200D}'), 0);
    }

    #[test]
    fn wide_character_that_does_not_fit_goes_to_the_next_row() {
        let mut ed = LineEditor::new("> ");
        ed.set_width(4);
        run(&mut ed, b"");
        assert_eq!(run(&mut ed, "a日".as_bytes()).1, "a日");
        assert_eq!(ed.position(2), 6, "column 3 of row 0 is left empty");
        assert_eq!(run(&mut ed, b"\x1b[D").1, "\x1b[1A\x1b[1C");
        assert_eq!(
            run(&mut ed, "日".as_bytes()).1,
            "\x1b[J日日\r\n\x1b[1A\x1b[2C"
        );
    }

    /// The cell covered by the right half of a wide character.
    const WIDE_TAIL: char = '\u{0}';

    /// A minimal terminal: rows of cells, the cursor, and the pending-wrap flag of real
    /// terminals. Understands what the editor writes.
    struct Screen {
        width: usize,
        rows: Vec<Vec<char>>,
        row: usize,
        col: usize,
        pending_wrap: bool,
    }

    impl Screen {
        fn new(width: usize) -> Self {
            Screen {
                width,
                rows: vec![vec![' '; width]],
                row: 0,
                col: 0,
                pending_wrap: false,
            }
        }

        fn ensure_row(&mut self) {
            while self.rows.len() <= self.row {
                self.rows.push(vec![' '; self.width]);
            }
        }

        fn feed(&mut self, out: &str) {
            let mut chars = out.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\r' => {
                        self.col = 0;
                        self.pending_wrap = false;
                    }
                    '\n' => {
                        self.row += 1;
                        self.pending_wrap = false;
                        self.ensure_row();
                    }
                    '\x1b' => {
                        assert_eq!(chars.next(), Some('['));
                        let mut n = String::new();
                        while let Some(d) = chars.next_if(char::is_ascii_digit) {
                            n.push(d);
                        }
                        let n: usize = n.parse().unwrap_or(1);
                        self.pending_wrap = false;
                        match chars.next().unwrap() {
                            'A' => self.row = self.row.checked_sub(n).expect("above the screen"),
                            'B' => {
                                self.row += n;
                                assert!(self.row < self.rows.len(), "below the text");
                            }
                            'C' => self.col = (self.col + n).min(self.width - 1),
                            'D' => self.col = self.col.saturating_sub(n),
                            'K' => self.rows[self.row][self.col..].fill(' '),
                            'J' => {
                                self.rows[self.row][self.col..].fill(' ');
                                self.rows.truncate(self.row + 1);
                            }
                            other => panic!("unexpected sequence {other:?}"),
                        }
                    }
                    c => {
                        assert!(!c.is_control(), "control {c:?} written");
                        let w = char_width(c);
                        assert!(w > 0, "the model test types no zero-width characters");
                        if self.pending_wrap || self.col + w > self.width {
                            self.row += 1;
                            self.col = 0;
                            self.pending_wrap = false;
                            self.ensure_row();
                        }
                        self.rows[self.row][self.col] = c;
                        if w == 2 {
                            self.rows[self.row][self.col + 1] = WIDE_TAIL;
                        }
                        if self.col + w == self.width {
                            self.col = self.width - 1;
                            self.pending_wrap = true;
                        } else {
                            self.col += w;
                        }
                    }
                }
            }
        }
    }

    /// Key presses for the screen model test.
    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[a-c ]{1,6}".prop_map(String::into_bytes),
            2 => "[a 日🎉]{1,4}".prop_map(String::into_bytes),
            1 => Just(b"\x7f".to_vec()),
            1 => Just(b"\x1b[D".to_vec()),
            1 => Just(b"\x1b[C".to_vec()),
            1 => Just(b"\x01".to_vec()),
            1 => Just(b"\x05".to_vec()),
            1 => Just(b"\x0b".to_vec()),
            1 => Just(b"\x15".to_vec()),
            1 => Just(b"\x17".to_vec()),
            1 => Just(b"\x1b[3~".to_vec()),
            1 => Just(b"\x1b[A".to_vec()),
            1 => Just(b"\x1b[B".to_vec()),
            1 => Just(b"\x1bb".to_vec()),
            1 => Just(b"\x1bf".to_vec()),
            1 => Just(b"\r".to_vec()),
            1 => Just(b"MSG".to_vec()),
            1 => Just(b"PROMPT".to_vec()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever is typed, the screen shows the prompt and the line, and the terminal cursor
        /// is at the insertion point, wrapping included.
        #[test]
        fn screen_matches_the_model(
            width in 2usize..12,
            keys in proptest::collection::vec(key(), 0..60),
        ) {
            let mut ed = LineEditor::new("> ");
            ed.set_width(width);
            let mut screen = Screen::new(width);
            prop_assert_eq!(ed.poll_event(), None);
            screen.feed(&String::from_utf8(ed.take_output()).unwrap());
            let mut prompt_long = false;
            for k in keys {
                match k.as_slice() {
                    b"MSG" => ed.print_above("message"),
                    b"PROMPT" => {
                        prompt_long = !prompt_long;
                        ed.set_prompt(if prompt_long { "[long]> " } else { "> " });
                    }
                    k => {
                        ed.handle_input(k);
                        while ed.poll_event().is_some() {}
                    }
                }
                screen.feed(&String::from_utf8(ed.take_output()).unwrap());
                prop_assert!(ed.shown);
                let start = screen.row - ed.term_pos / width;
                let text: String = screen.rows[start..].iter().flatten().collect();
                // What the screen should show: the same layout, wide characters included.
                let mut expected = vec![' '; ed.position(ed.line.len()) + 1];
                let mut pos = 0;
                for c in ed.prompt().chars().chain(ed.line.iter().copied()) {
                    let next = ed.advance(pos, c);
                    let at = next - char_width(c);
                    expected[at] = c;
                    if char_width(c) == 2 {
                        expected[at + 1] = WIDE_TAIL;
                    }
                    pos = next;
                }
                let expected: String = expected.into_iter().collect();
                prop_assert_eq!(text.trim_end(), expected.trim_end());
                let pos = ed.position(ed.cursor());
                prop_assert_eq!(ed.term_pos, pos);
                prop_assert_eq!((screen.row, screen.col), (start + pos / width, pos % width));
                prop_assert!(!screen.pending_wrap);
            }
        }

        /// No input makes the editor panic or break its bounds.
        #[test]
        fn arbitrary_input_is_safe(
            chunks in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..64),
                0..20,
            ),
        ) {
            let mut ed = LineEditor::new("> ");
            for chunk in chunks {
                ed.handle_input(&chunk);
                while let Some(event) = ed.poll_event() {
                    if let EditorEvent::Line(l) = event {
                        prop_assert!(l.chars().count() <= MAX_LINE_CHARS);
                        prop_assert!(!l.chars().any(is_forbidden));
                    }
                }
                ed.print_above("m\n");
                prop_assert!(ed.cursor() <= ed.line().chars().count());
                prop_assert!(ed.history().count() <= MAX_HISTORY);
                prop_assert!(std::str::from_utf8(&ed.take_output()).is_ok());
            }
        }
    }
}
