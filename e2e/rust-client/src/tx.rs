//! `produce-tx`: a `TransactionMQProducer` sending transactional messages, then answering the
//! broker's back-checks until stdin closes (or `--timeout-ms`).
//!
//! ```text
//! rust-client-compat produce-tx --namesrv A --topic T --group G --key-prefix P
//!     [--outcomes commit,rollback,unknown] [--rounds N] [--timeout-ms 300000]
//!   SENT key=K status=SEND_OK local=COMMIT_MESSAGE|ROLLBACK_MESSAGE|UNKNOW msgId=M queue=B:Q
//!   ALL_SENT
//!   CHECK key=K answer=COMMIT_MESSAGE|.. at=µs
//!   DONE reason=stdin|timeout
//! ```
//!
//! Round i sends one message per outcome, key `<prefix>-<outcome>-<i>`, body `body-<key>`, tag
//! `TagA`, with `send_message_in_transaction`. The listener's local transaction
//! (`execute_local_transaction`) answers by the key's outcome: CommitMessage, RollbackMessage or
//! Unknown; a back-check (`check_local_transaction`) answers CommitMessage for an `unknown`
//! message (its transaction has committed meanwhile) and the local answer for any other (a check
//! the broker should not have sent). A send that is not SEND_OK ends the run with status 1.

use std::{any::Any, process::ExitCode, sync::Arc, time::Duration};

use rocketmq_client_rust::{
    ClientRuntime, LocalTransactionState, SendStatus, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::message::{MessageTrait, message_ext::MessageExt, message_single::Message};

use crate::{Args, SHUTDOWN_TIMEOUT, error_text, field, micros, queue_name, stdin_closed};

pub struct TxOpts {
    namesrv: String,
    topic: String,
    group: String,
    prefix: String,
    outcomes: Vec<String>,
    rounds: usize,
    timeout: Duration,
}

impl TxOpts {
    pub fn from(args: &Args) -> Result<Self, String> {
        Ok(Self {
            namesrv: args.required("namesrv")?,
            topic: args.required("topic")?,
            group: args.required("group")?,
            prefix: args.required("key-prefix")?,
            outcomes: args
                .or("outcomes", "commit,rollback,unknown")
                .split(',')
                .map(str::to_owned)
                .collect(),
            rounds: args.number("rounds", 1)? as usize,
            timeout: Duration::from_millis(args.number("timeout-ms", 300_000)?),
        })
    }
}

/// The Java client's name of a local transaction state.
fn state_name(state: LocalTransactionState) -> &'static str {
    match state {
        LocalTransactionState::CommitMessage => "COMMIT_MESSAGE",
        LocalTransactionState::RollbackMessage => "ROLLBACK_MESSAGE",
        LocalTransactionState::Unknown => "UNKNOW",
    }
}

/// The outcome part of a key `<prefix>-<outcome>-<round>`.
fn outcome_of(key: &str) -> &str {
    let mut parts = key.rsplit('-');
    parts.next();
    parts.next().unwrap_or_default()
}

fn local_answer(key: &str) -> LocalTransactionState {
    match outcome_of(key) {
        "commit" => LocalTransactionState::CommitMessage,
        "rollback" => LocalTransactionState::RollbackMessage,
        _ => LocalTransactionState::Unknown,
    }
}

struct Listener;

impl TransactionListener for Listener {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        _arg: Option<&(dyn Any + Send + Sync)>,
    ) -> LocalTransactionState {
        local_answer(&msg.get_keys().map(|k| k.to_string()).unwrap_or_default())
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let key = msg.get_keys().map(|k| k.to_string()).unwrap_or_default();
        let answer = match outcome_of(&key) {
            "unknown" => LocalTransactionState::CommitMessage,
            _ => local_answer(&key),
        };
        println!(
            "CHECK key={} answer={} at={}",
            field(&key),
            state_name(answer),
            micros()
        );
        answer
    }
}

pub async fn produce_tx(client_runtime: Arc<ClientRuntime>, opts: TxOpts) -> ExitCode {
    let mut producer = TransactionMQProducer::builder(client_runtime)
        .producer_group(opts.group.as_str())
        .name_server_addr(opts.namesrv.as_str())
        .send_msg_timeout(10_000)
        .retry_times_when_send_failed(0)
        .transaction_listener(Listener)
        .build();
    if let Err(e) = producer.start().await {
        eprintln!("rust-client-compat: transaction producer start: {e}");
        return ExitCode::from(3);
    }
    let mut code = ExitCode::SUCCESS;
    'rounds: for round in 0..opts.rounds {
        for outcome in &opts.outcomes {
            let key = format!("{}-{outcome}-{round}", opts.prefix);
            let message = Message::builder()
                .topic(opts.topic.as_str())
                .body(format!("body-{key}").into_bytes())
                .key(key.as_str())
                .tags("TagA")
                .build_unchecked();
            let result = producer.send_message_in_transaction::<(), _>(message, None).await;
            let sent = match result {
                Ok(r) => r,
                Err(e) => {
                    println!("FAILED key={} error={}", field(&key), error_text(&e));
                    code = ExitCode::from(1);
                    break 'rounds;
                }
            };
            let (Some(local), Some(send)) = (sent.local_transaction_state, sent.send_result) else {
                println!("FAILED key={} error=no local state or send result", field(&key));
                code = ExitCode::from(1);
                break 'rounds;
            };
            if send.send_status != SendStatus::SendOk {
                println!("FAILED key={} error=status {}", field(&key), send.send_status);
                code = ExitCode::from(1);
                break 'rounds;
            }
            println!(
                "SENT key={} status=SEND_OK local={} msgId={} queue={}",
                field(&key),
                state_name(local),
                field(send.msg_id.as_deref().unwrap_or_default()),
                field(&send.message_queue.as_ref().map(queue_name).unwrap_or_default()),
            );
        }
    }
    let reason = if code == ExitCode::SUCCESS {
        println!("ALL_SENT");
        tokio::select! {
            () = stdin_closed() => "stdin",
            () = tokio::time::sleep(opts.timeout) => "timeout",
        }
    } else {
        "failed"
    };
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, producer.shutdown())
        .await
        .is_err()
    {
        eprintln!("rust-client-compat: transaction producer shutdown took over {SHUTDOWN_TIMEOUT:?}");
        return ExitCode::from(3);
    }
    println!("DONE reason={reason}");
    match reason {
        "stdin" => code,
        "timeout" => ExitCode::from(1),
        _ => code,
    }
}
