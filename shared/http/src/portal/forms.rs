//! The endpoint forms' fields and errors: what was typed, kept to show it
//! again; each error beside its field by the field's label, and summed up
//! at the top of the form.

use std::collections::BTreeMap;

use maud::{Markup, html};

use hookline::model::EventTypeInfo;

use super::layout::{capitalised, form_field};
use super::session::Posted;

/// A field's error as the forms show it: its name and the message, the
/// field called by its label ("Rate limit must be …", not "rate_limit
/// must be …"); a part of a field (`filter.payload.amount`) keeps its path
/// after the label.
pub(super) fn invalid(v: &hookline::validation::ValidationError) -> (String, String) {
    let (field, text) = (v.field(), v.to_string());
    let label = field_label(of_field(field));
    let message = match text.strip_prefix(field) {
        Some(rest) if of_field(field) == field => format!("{label}{rest}"),
        _ => format!("{label}: {text}"),
    };
    (field.to_owned(), capitalised(&message))
}

/// A form field's label, by the name the API gives it.
pub(super) fn field_label(field: &str) -> &'static str {
    match field {
        "url" => "URL",
        "event_types" => "Event types",
        "description" => "Description",
        "rate_limit" => "Rate limit",
        "timeout_ms" => "Timeout",
        "channels" => "Channels",
        "filter" => "Filter",
        "headers" => "Custom headers",
        "event_type" => "Event type",
        "since" => "Since",
        "payload" => "Payload",
        _ => "This endpoint",
    }
}

/// The form's errors at its top, each linked to its field (the field's
/// own note says it again beside it).
pub(super) fn error_summary(error: Option<&(String, String)>, in_form: &[&str]) -> Markup {
    let Some((field, message)) = error else { return html! {} };
    let target = match of_field(field) {
        "event_types" => "event_types_more",
        f => f,
    };
    html! {
        div.error-summary role="alert" aria-labelledby="error-summary-title" {
            h2 #error-summary-title { "There is a problem" }
            ul { li {
                @if in_form.contains(&of_field(field)) { a href={ "#" (target) } { (message) } } @else { (message) }
            } }
        }
    }
}

/// The custom headers field: a textarea of `Name: value` lines (what was
/// typed, never what is stored: values are write-only), the names set now,
/// and (`clear`) a box to remove them all.
pub(super) fn headers_field(typed: &str, set_now: &[&str], clear: bool, error: Option<String>) -> Markup {
    let hint = if set_now.is_empty() {
        "optional: one `Name: value` a line, sent with every request".to_owned()
    } else {
        format!(
            "set now: {}; values are not shown — what you type replaces them all, nothing typed keeps them",
            set_now.join(", ")
        )
    };
    html! {
        label for="headers" { "Custom headers"
            textarea id="headers" name="headers" rows="3" aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby="headers-note" { (typed) }
            small id="headers-note" class=[error.as_ref().map(|_| "error")] { @if let Some(e) = &error { (e) } @else { (hint) } }
        }
        @if clear {
            label.toggle { input type="checkbox" name="clear_headers"; "Remove every custom header" }
        }
    }
}

/// The event types of a form: the catalog's toggles that are checked and
/// the patterns typed beside them, as one comma-separated list.
pub(super) fn event_types_of(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .filter(|(k, _)| k == "event_types" || k == "event_types_more")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The events an endpoint receives: one toggle per declared type (as
/// Ignite's settings page has), and a field for patterns; a plain field
/// when nothing is declared.
pub(super) fn events_field(catalog: &[EventTypeInfo], current: &str, error: Option<String>) -> Markup {
    let hint = "comma-separated, e.g. order.paid, order.*; empty: all";
    if catalog.is_empty() {
        return form_field("event_types", "Events", current, hint, "text", error);
    }
    let chosen: Vec<&str> = current.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
    let declared = |t: &str| catalog.iter().any(|c| c.name.as_str() == t);
    let more = chosen.iter().filter(|t| !declared(t)).copied().collect::<Vec<_>>().join(", ");
    html! {
        fieldset.events {
            legend { "Events" }
            @for t in catalog {
                label.toggle {
                    input type="checkbox" name="event_types" value=(t.name.as_str()) checked[chosen.contains(&t.name.as_str())];
                    code { (t.name.as_str()) }
                    @if let Some(d) = &t.description { small { (d) } }
                }
            }
            (form_field("event_types_more", "Other event types", &more, "patterns such as video.*; none checked and none here: every event", "text", error))
        }
    }
}

/// What the create form was given, kept to show it again with its error.
#[derive(Default)]
pub(super) struct NewEndpoint {
    pub(super) url: String,
    pub(super) event_types: String,
    pub(super) description: String,
    pub(super) rate_limit: String,
    pub(super) timeout_ms: String,
    /// Custom headers typed, one `Name: value` a line (values are
    /// write-only: never filled in from what is stored).
    pub(super) headers: String,
    /// Remove every custom header.
    pub(super) clear_headers: bool,
    /// Channels, comma-separated (empty: every event).
    pub(super) channels: String,
    /// The payload filter as JSON text (empty: none).
    pub(super) filter: String,
    /// Each key's events one at a time, in publish order.
    pub(super) ordered: bool,
}

impl From<&Posted> for NewEndpoint {
    fn from(post: &Posted) -> Self {
        Self {
            url: post.field("url"),
            event_types: event_types_of(&post.fields),
            description: post.field("description"),
            rate_limit: post.field("rate_limit"),
            timeout_ms: post.field("timeout_ms"),
            headers: post.field("headers"),
            clear_headers: post.field("clear_headers") == "on",
            channels: post.field("channels"),
            filter: post.field("filter"),
            ordered: post.field("ordered") == "on",
        }
    }
}

impl NewEndpoint {
    /// The custom headers as the API takes them: none when nothing was
    /// typed (keep what is stored), an empty set when asked to clear them.
    pub(super) fn header_map(&self) -> Result<Option<BTreeMap<String, String>>, (String, String)> {
        if self.clear_headers {
            return Ok(Some(BTreeMap::new()));
        }
        let mut out = BTreeMap::new();
        for line in self.headers.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(("headers".to_owned(), format!("{line:?}: one `Name: value` a line")));
            };
            out.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// The channels as the API takes them (none typed: every event).
    pub(super) fn channel_list(&self) -> Vec<String> {
        self.channels.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
    }

    /// The filter as the API takes it: none when nothing was typed, else
    /// the JSON typed (text that is not JSON is the form's error).
    pub(super) fn filter_value(&self) -> Result<Option<serde_json::Value>, (String, String)> {
        match self.filter.trim() {
            "" => Ok(None),
            text => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| ("filter".to_owned(), format!("is not JSON: {e}"))),
        }
    }

    /// The event types as the API takes them.
    pub(super) fn event_type_list(&self) -> Vec<String> {
        self.event_types.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
    }
}

/// The form field an API error's field belongs to: `filter.payload.x` and
/// `channels[2]` to `filter` and `channels`.
pub(super) fn of_field(f: &str) -> &str {
    f.split(['.', '[']).next().unwrap_or(f)
}

/// The payload filter: JSON typed in a text area, with where to read how.
pub(super) fn filter_field(typed: &str, error: Option<String>) -> Markup {
    html! {
        label for="filter" { "Filter"
            textarea id="filter" name="filter" rows="4" spellcheck="false" aria-invalid=[error.as_ref().map(|_| "true")]
                aria-describedby="filter-note" { (typed) }
            small id="filter-note" class=[error.as_ref().map(|_| "error")] {
                @if let Some(e) = &error { (e) }
                @else { "optional JSON: only events that match, e.g. {\"payload\": {\"status\": \"shipped\"}}; empty: every event" }
            }
        }
    }
}

/// A number field: none when empty, else a whole number.
pub(super) fn whole_number(name: &str, v: &str) -> Result<Option<u64>, (String, String)> {
    match v {
        "" => Ok(None),
        n => n.parse::<u64>().map(Some).map_err(|_| (name.to_owned(), "a whole number".to_owned())),
    }
}
