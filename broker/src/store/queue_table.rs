//! Every consume queue of the store, by (topic, queue id), laid out as
//! `consumequeue/<topic>/<queueId>/`.

use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use super::{
    commit_log::QueueKey,
    consume_queue::{self, ConsumeQueue},
    error::StoreError,
    mapped_file::MappedFile,
    segments::{self, Segments},
};

/// Loads every queue directory (owned files, for recovery to cut).
pub fn load(dir: &Path, file_size: usize) -> Result<HashMap<QueueKey, Vec<MappedFile>>, StoreError> {
    let mut out = HashMap::new();
    let topics = match fs::read_dir(dir) {
        Ok(t) => t,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(err) => return Err(StoreError::io("read directory", dir)(err)),
    };
    for topic in topics {
        let topic = topic.map_err(StoreError::io("read directory", dir))?;
        let Some(topic_name) = topic.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !topic.path().is_dir() {
            continue;
        }
        for queue in fs::read_dir(topic.path()).map_err(StoreError::io("read directory", topic.path()))? {
            let queue = queue.map_err(StoreError::io("read directory", topic.path()))?;
            let Some(queue_id) = queue.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let files = segments::load_files(&queue.path(), file_size, "mappedFileSizeConsumeQueue")?;
            out.insert((topic_name.clone(), queue_id), files);
        }
    }
    Ok(out)
}

/// Whether a topic name can be used as a directory name without escaping the store.
pub fn is_safe_topic(topic: &str) -> bool {
    !topic.is_empty() && topic != "." && topic != ".." && !topic.contains(['/', '\\', '\0'])
}

/// The live table.
#[derive(Debug)]
pub struct QueueTable {
    dir: PathBuf,
    file_size: usize,
    queues: RwLock<HashMap<QueueKey, Arc<ConsumeQueue>>>,
}

impl QueueTable {
    /// Recovers loaded queues against the CommitLog's `[log_min, log_end)` and wraps them.
    pub fn recover(
        dir: PathBuf,
        file_size: usize,
        loaded: HashMap<QueueKey, Vec<MappedFile>>,
        log_min: u64,
        log_end: u64,
    ) -> Result<Self, StoreError> {
        let mut queues = HashMap::with_capacity(loaded.len());
        for ((topic, queue_id), files) in loaded {
            let files = consume_queue::recover_files(files, log_end)?;
            let qdir = dir.join(&topic).join(queue_id.to_string());
            let queue = ConsumeQueue::new(
                topic.clone(),
                queue_id,
                Segments::new(qdir, file_size, files),
                log_min,
            );
            queues.insert((topic, queue_id), Arc::new(queue));
        }
        Ok(Self {
            dir,
            file_size,
            queues: RwLock::new(queues),
        })
    }

    /// The queue, if it exists.
    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        let queues = self
            .queues
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.get(&(topic.to_owned(), queue_id)).cloned()
    }

    /// The queue, created empty if missing.
    pub fn get_or_create(&self, topic: &str, queue_id: i32) -> Arc<ConsumeQueue> {
        if let Some(q) = self.get(topic, queue_id) {
            return q;
        }
        let mut queues = self
            .queues
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues
            .entry((topic.to_owned(), queue_id))
            .or_insert_with(|| {
                let qdir = self.dir.join(topic).join(queue_id.to_string());
                Arc::new(ConsumeQueue::new(
                    topic.to_owned(),
                    queue_id,
                    Segments::new(qdir, self.file_size, Vec::new()),
                    0,
                ))
            })
            .clone()
    }

    /// Every queue.
    pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        let queues = self
            .queues
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.values().cloned().collect()
    }

    /// Next logical offset of every queue (seeds the CommitLog's assignment table).
    pub fn max_offsets(&self) -> HashMap<QueueKey, i64> {
        self.all()
            .into_iter()
            .map(|q| ((q.topic().to_owned(), q.queue_id()), q.max_offset()))
            .collect()
    }
}
