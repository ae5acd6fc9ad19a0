//! A terminal chat client on `micelio-smol`: each line typed on stdin is broadcast to the mesh,
//! each chat line from the mesh is printed as `<nick> text`. It takes the daemon's flags:
//!
//! ```text
//! cargo run -p micelio-examples --bin smol-chat -- -data-dir /tmp/alice \
//!     -listen 127.0.0.1:7001 -bootstrap 127.0.0.1:7000 -name alice
//! ```

use futures_lite::StreamExt;
use futures_lite::io::{AsyncBufReadExt, BufReader};
use micelio_core::node::NodeEvent;
use micelio_platform::config::{Config, parse_args};
use micelio_smol::SmolNode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let overrides = parse_args(&args)?;
    let mut config = Config::load(overrides.config_path())?;
    config.apply_overrides(&overrides);
    let nick = config.node.name.clone();

    smol::block_on(async {
        let (node, mut events) = SmolNode::start(config).await?;
        println!(
            "node {} listening on {:?}",
            node.node_id(),
            node.local_addr()
        );

        // Print what the mesh says, on a task of its own.
        let printer = smol::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    NodeEvent::Chat { nick, text, .. } => {
                        // Peers choose their nicks and lines: drop control characters.
                        let clean =
                            |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
                        println!("<{}> {}", clean(&nick), clean(&text));
                    }
                    NodeEvent::PeerUp { node_id, .. } => println!("* {node_id} joined"),
                    NodeEvent::PeerDown { node_id, .. } => println!("* {node_id} left"),
                    NodeEvent::Message { .. } | NodeEvent::StateChanged { .. } => {}
                }
            }
        });

        // Broadcast every stdin line until end of input.
        let mut lines = BufReader::new(smol::Unblock::new(std::io::stdin())).lines();
        while let Some(line) = lines.next().await {
            let line = line?;
            if !line.trim().is_empty() {
                node.handle().broadcast_chat(&nick, &line).await?;
            }
        }

        // Send what is queued, store the peer table, close the connections.
        node.shutdown().await?;
        printer.cancel().await;
        Ok(())
    })
}
