//! The client: URL building, a fresh `random` per request, the request/response cycle, the
//! deadline, retries and the shared rate limiter.
//!
//! CONTRACT SKELETON — the public signatures below are fixed (the C and Python faces are written
//! against them); the bodies are being implemented.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ClientBuilder, Config};
use crate::error::Result;

/// One `delete_group_msg_by_sender` request: a group, a sender, and optionally a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeleteBySender {
    /// The group (`GroupId`).
    pub group_id: String,
    /// The UserID whose messages go (`Sender_Account`).
    pub sender: String,
    /// A topic of a topic-enabled Community group (`TopicId`).
    pub topic_id: Option<String>,
}

impl DeleteBySender {
    /// A request for `sender`'s messages in `group_id`.
    pub fn new(group_id: impl Into<String>, sender: impl Into<String>) -> DeleteBySender {
        DeleteBySender { group_id: group_id.into(), sender: sender.into(), topic_id: None }
    }

    /// Restricts the deletion to one topic.
    pub fn topic(mut self, topic_id: impl Into<String>) -> DeleteBySender {
        self.topic_id = Some(topic_id.into());
        self
    }
}

/// What a successful call cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallInfo {
    /// The `random` of the attempt that succeeded.
    pub random: u32,
    /// Requests sent (1 when the first attempt succeeded).
    pub attempts: u32,
    /// Time spent, waits and retries included.
    pub elapsed: Duration,
}

/// A TIM REST client. `Send + Sync`, cheap to clone (clones share the connection pool, the
/// signer and the rate limiter).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Config>,
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client from checked settings.
    pub fn new(config: Config) -> Result<Client> {
        Ok(Client { inner: Arc::new(config) })
    }

    /// A client from the `TIM_*` environment variables.
    pub fn from_env() -> Result<Client> {
        ClientBuilder::from_env()?.build()
    }

    /// The settings this client runs with.
    pub fn config(&self) -> &Config {
        &self.inner
    }

    /// Deletes the messages `sender` sent among the latest 1000 of `group_id`.
    pub fn delete_group_msg_by_sender(&self, group_id: &str, sender: &str) -> Result<()> {
        self.delete_by_sender(&DeleteBySender::new(group_id, sender)).map(|_| ())
    }

    /// Deletes by sender, with the optional topic; returns what the call cost.
    pub fn delete_by_sender(&self, request: &DeleteBySender) -> Result<CallInfo> {
        let _ = request;
        unimplemented!("being implemented")
    }

    /// Any TIM REST command: `POST /v4/{service}/{command}` with `body`; the whole answer on success.
    pub fn call(
        &self,
        service: &str,
        command: &str,
        body: &serde_json::Value,
    ) -> Result<(serde_json::Value, CallInfo)> {
        let _ = (service, command, body);
        unimplemented!("being implemented")
    }
}

impl ClientBuilder {
    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        Client::new(self.into_config()?)
    }
}
