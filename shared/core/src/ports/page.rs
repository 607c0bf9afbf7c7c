//! A page of a list, and the request for one.

/// A page of a list, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which page to read: items older than `cursor` (an id), at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The last id of the previous page.
    pub cursor: Option<String>,
    /// Most items to return.
    pub limit: usize,
}
