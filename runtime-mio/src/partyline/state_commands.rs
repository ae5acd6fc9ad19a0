//! The partyline commands of the shared map (docs/state.md): `/set <key> <value>`,
//! `/get <key>`, `/del <key>`, `/keys [prefix]`. A command queues a [`NodeRequest`]; the
//! daemon answers it in its loop with [`answer`], against the node itself.

use micelio_core::node::Node;
use micelio_core::time::Instant;

use super::sanitize::sanitize;
use super::{Hub, LineOutcome, NodeRequest, RegisterError, SessionId};

/// Keys `/keys` lists before it says how many more there are.
pub const MAX_LISTED_KEYS: usize = 100;

/// Adds the four commands to `hub`'s table.
///
/// # Errors
///
/// [`RegisterError::Frozen`] when the table is already frozen.
pub fn register(hub: &mut Hub) -> Result<(), RegisterError> {
    hub.register_command(
        "/set",
        "/set <key> <value>",
        "write a key of the shared map",
        |hub, id, args| match args {
            [key, value @ ..] if !value.is_empty() => {
                let value = value.join(" ").into_bytes();
                queue(
                    hub,
                    id,
                    NodeRequest::Set {
                        key: (*key).into(),
                        value,
                    },
                )
            }
            _ => usage(hub, id, "/set <key> <value>"),
        },
    )?;
    hub.register_command(
        "/get",
        "/get <key>",
        "show a key of the shared map",
        |hub, id, args| match args {
            [key] => queue(hub, id, NodeRequest::Get { key: (*key).into() }),
            _ => usage(hub, id, "/get <key>"),
        },
    )?;
    hub.register_command(
        "/del",
        "/del <key>",
        "delete a key of the shared map",
        |hub, id, args| match args {
            [key] => queue(hub, id, NodeRequest::Delete { key: (*key).into() }),
            _ => usage(hub, id, "/del <key>"),
        },
    )?;
    hub.register_command(
        "/keys",
        "/keys [prefix]",
        "list the keys of the shared map",
        |hub, id, args| match args {
            [] => queue(
                hub,
                id,
                NodeRequest::Keys {
                    prefix: String::new(),
                },
            ),
            [prefix] => queue(
                hub,
                id,
                NodeRequest::Keys {
                    prefix: (*prefix).into(),
                },
            ),
            _ => usage(hub, id, "/keys [prefix]"),
        },
    )
}

fn usage(hub: &mut Hub, id: SessionId, text: &str) -> LineOutcome {
    hub.send(id, &format!("Usage: {text}"));
    LineOutcome::Continue
}

fn queue(hub: &mut Hub, id: SessionId, request: NodeRequest) -> LineOutcome {
    if !hub.request(id, request) {
        hub.send(id, "* busy: try again");
    }
    LineOutcome::Continue
}

/// Answers every queued request against `node` at `now`: writes go to the network like any
/// write of the node; each asking session gets one line (or the list of keys).
pub fn answer(hub: &mut Hub, node: &mut Node, now: Instant) {
    while let Some((id, request)) = hub.poll_request() {
        match request {
            NodeRequest::Set { key, value } => {
                let line = match node.state_set(now, &key, value) {
                    Ok(_) => format!("* {} set", sanitize(&key)),
                    Err(error) => format!("* {} not set: {error}", sanitize(&key)),
                };
                hub.send(id, &line);
            }
            NodeRequest::Delete { key } => {
                let line = match node.state_delete(now, &key) {
                    Ok(_) => format!("* {} deleted", sanitize(&key)),
                    Err(error) => format!("* {} not deleted: {error}", sanitize(&key)),
                };
                hub.send(id, &line);
            }
            NodeRequest::Get { key } => {
                let line = match node.state_get(&key) {
                    Some(value) => format!(
                        "{} = {}",
                        sanitize(&key),
                        sanitize(&String::from_utf8_lossy(value))
                    ),
                    None => format!("{} is not set", sanitize(&key)),
                };
                hub.send(id, &line);
            }
            NodeRequest::Keys { prefix } => {
                let keys = node.state().keys(&prefix);
                if keys.is_empty() {
                    hub.send(id, "(no keys)");
                }
                for key in keys.iter().take(MAX_LISTED_KEYS) {
                    hub.send(id, &sanitize(key));
                }
                if keys.len() > MAX_LISTED_KEYS {
                    hub.send(
                        id,
                        &format!("... and {} more", keys.len() - MAX_LISTED_KEYS),
                    );
                }
            }
        }
    }
}
