//! The AWS path against moto, each test on a server of its own on a free
//! loopback port: the adapters, the store contract on DynamoDB, the
//! functions end to end, and what each function's role may do with IAM
//! enforced. (The metrics test is a binary of its own: its recorder is
//! global to the process.)

mod adapters;
mod contract;
mod e2e;
mod permissions;
