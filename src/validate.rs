//! The rules an argument must meet before anything is sent (design §2, spec §5).
//!
//! Only what is certainly invalid is refused: empty, too long, NUL or other control characters,
//! or a topic that does not belong to its group. Errors are [`ErrorKind::InvalidArgument`](crate::ErrorKind).

use crate::error::{Error, Result};

/// Longest `UserID` (`Sender_Account`, identifier), in bytes.
pub const MAX_USER_ID_BYTES: usize = 32;
/// Longest `GroupId`, in bytes.
pub const MAX_GROUP_ID_BYTES: usize = 48;
/// Longest `TopicId` we accept, in bytes (the group ID, `@TOPIC#_` and a name).
pub const MAX_TOPIC_ID_BYTES: usize = 128;

fn text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid_argument(format!("{field} is empty")));
    }
    if value.len() > max {
        return Err(Error::invalid_argument(format!(
            "{field} is {} bytes long; at most {max} are allowed",
            value.len()
        )));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid_argument(format!("{field} contains the control character {c:?}")));
    }
    Ok(())
}

/// A UserID: 1..=32 bytes, no control characters.
pub fn user_id(field: &str, value: &str) -> Result<()> {
    text(field, value, MAX_USER_ID_BYTES)
}

/// A GroupId: 1..=48 bytes, no control characters.
pub fn group_id(value: &str) -> Result<()> {
    text("group_id", value, MAX_GROUP_ID_BYTES)
}

/// A TopicId: no control characters, and it starts with its group's ID.
pub fn topic_id(group_id: &str, topic_id: &str) -> Result<()> {
    text("topic_id", topic_id, MAX_TOPIC_ID_BYTES)?;
    if !topic_id.starts_with(group_id) || topic_id.len() == group_id.len() {
        return Err(Error::invalid_argument(format!(
            "topic_id {topic_id:?} does not belong to group {group_id:?} (a topic ID starts with its group ID)"
        )));
    }
    Ok(())
}

/// All the checks for one `delete_group_msg_by_sender` request.
pub fn delete_by_sender(group: &str, sender: &str, topic: Option<&str>) -> Result<()> {
    group_id(group)?;
    user_id("sender", sender)?;
    if let Some(topic) = topic {
        topic_id(group, topic)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn accepts_real_ids() {
        delete_by_sender("@TGS#2C5SZEAEF", "leckie", None).unwrap();
        delete_by_sender("@TGS#_@TGS#cQVLVHIM62CJ", "a b", Some("@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_TestTopic")).unwrap();
        delete_by_sender(&"g".repeat(48), &"s".repeat(32), None).unwrap();
    }

    #[test]
    fn refuses_what_is_certainly_invalid() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("", "s", None),
            ("g", "", None),
            (&"g".repeat(49), "s", None),
            ("g", &"s".repeat(33), None),
            ("g\0", "s", None),
            ("g", "s\n", None),
            ("g", "s\u{7f}", None),
            ("@TGS#_a", "s", Some("@TGS#_b@TOPIC#_x")),
            ("@TGS#_a", "s", Some("@TGS#_a")),
            ("@TGS#_a", "s", Some("")),
        ];
        for (g, s, t) in cases {
            let err = delete_by_sender(g, s, *t).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{g:?} {s:?} {t:?}");
            assert!(!err.info().is_empty());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_agrees_with_the_rules(g in "\\PC{0,60}|.{0,60}", s in ".{0,40}") {
            let ok = delete_by_sender(&g, &s, None).is_ok();
            let expected = !g.is_empty() && g.len() <= 48 && !g.chars().any(char::is_control)
                && !s.is_empty() && s.len() <= 32 && !s.chars().any(char::is_control);
            proptest::prop_assert_eq!(ok, expected);
        }
    }
}
