-- fieldmap's DuckDB tables. Character offsets are into documents.text; sentence indices are
-- positions in the document's sentence list. Every row below documents names its doc_id, so a
-- document's rows can be replaced or deleted in one transaction.
CREATE TABLE IF NOT EXISTS documents (
    doc_id VARCHAR PRIMARY KEY,      -- the source's id verbatim, else sha1:<content hash>
    title VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    source VARCHAR NOT NULL,         -- file the record came from
    date DATE,
    year INTEGER,
    content_hash VARCHAR NOT NULL,
    metadata JSON,
    ingested_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS sentences (
    doc_id VARCHAR NOT NULL,
    sent_index INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    PRIMARY KEY (doc_id, sent_index)
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id VARCHAR PRIMARY KEY,
    doc_id VARCHAR NOT NULL,
    chunk_index INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    sent_start INTEGER NOT NULL,     -- [sent_start, sent_end)
    sent_end INTEGER NOT NULL,
    own_sent_start INTEGER NOT NULL  -- sentences before this one overlap the previous chunk
);
CREATE TABLE IF NOT EXISTS structures (
    doc_id VARCHAR PRIMARY KEY,
    scope VARCHAR NOT NULL,
    method VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS aspects (
    doc_id VARCHAR NOT NULL,
    aspect_index INTEGER NOT NULL,
    parent_index INTEGER,
    title VARCHAR NOT NULL,
    sent_start INTEGER NOT NULL,
    sent_end INTEGER NOT NULL,
    PRIMARY KEY (doc_id, aspect_index)
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id VARCHAR PRIMARY KEY,   -- e:<sha1 of the normalised name>
    name VARCHAR NOT NULL,           -- the most frequent surface form
    norm_name VARCHAR NOT NULL UNIQUE,
    type VARCHAR NOT NULL            -- the most frequent mention type
);
CREATE TABLE IF NOT EXISTS mentions (
    mention_id VARCHAR PRIMARY KEY,  -- <chunk_id>:<start_char>
    entity_id VARCHAR NOT NULL,
    doc_id VARCHAR NOT NULL,
    chunk_id VARCHAR NOT NULL,
    sent_index INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    type_score DOUBLE,
    origin VARCHAR NOT NULL          -- ner | noun_chunk | llm
);
CREATE TABLE IF NOT EXISTS triplets (
    triplet_id VARCHAR PRIMARY KEY,  -- <chunk_id>:<sent_index>:<n>
    doc_id VARCHAR NOT NULL,
    chunk_id VARCHAR NOT NULL,
    sent_index INTEGER NOT NULL,
    subject_id VARCHAR NOT NULL,
    relation VARCHAR NOT NULL,       -- a relation type of the schema
    predicate VARCHAR NOT NULL,      -- the predicate as written (verb lemma, particles)
    object_id VARCHAR NOT NULL,
    subject_mention_id VARCHAR NOT NULL,
    object_mention_id VARCHAR NOT NULL,
    origin VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS extractions (
    chunk_id VARCHAR PRIMARY KEY,    -- one row per chunk the extractor has finished with
    doc_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,         -- ok | failed
    reason VARCHAR,
    method VARCHAR NOT NULL,
    mentions INTEGER NOT NULL,
    triplets INTEGER NOT NULL,
    finished_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS skipped (
    source VARCHAR NOT NULL,
    line INTEGER,
    doc_id VARCHAR,
    reason VARCHAR NOT NULL,
    seen_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE INDEX IF NOT EXISTS mentions_doc ON mentions (doc_id);
CREATE INDEX IF NOT EXISTS mentions_entity ON mentions (entity_id);
CREATE INDEX IF NOT EXISTS triplets_doc ON triplets (doc_id);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE TABLE IF NOT EXISTS synonyms (
    entity_a VARCHAR NOT NULL,       -- entity_a < entity_b
    entity_b VARCHAR NOT NULL,
    similarity DOUBLE NOT NULL,
    PRIMARY KEY (entity_a, entity_b)
);
