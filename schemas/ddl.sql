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
-- page boundaries of paged sources (PDF): page n of a document covers [start_char, end_char) of
-- documents.text; a document's pages are contiguous, so every character has exactly one page
CREATE TABLE IF NOT EXISTS pages (
    doc_id VARCHAR NOT NULL,
    page INTEGER NOT NULL,           -- 1-based, as printed in the source file
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    PRIMARY KEY (doc_id, page)
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
-- the spaCy parse (a DocBin) of a chunk, kept from offline extraction for the answer reader (kg/parses.py)
CREATE TABLE IF NOT EXISTS chunk_parses (
    chunk_id VARCHAR PRIMARY KEY,
    doc_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,          -- spaCy pipeline name and version that parsed it
    parse BLOB NOT NULL
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
CREATE TABLE IF NOT EXISTS synonym_scanned (
    entity_id VARCHAR PRIMARY KEY    -- entities whose synonym neighbours have been computed
);
-- LLM responses by request (model + messages + parameters), so no request is paid for twice
CREATE TABLE IF NOT EXISTS llm_cache (
    cache_key VARCHAR PRIMARY KEY,   -- sha256 of model, messages, parameters and output schema
    model VARCHAR NOT NULL,
    content VARCHAR NOT NULL,        -- the message content as the server sent it
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at TIMESTAMP DEFAULT current_timestamp
);
-- one row per LLM request made or answered from the cache
CREATE TABLE IF NOT EXISTS llm_calls (
    step VARCHAR NOT NULL,           -- the asset or stage that asked: structures | triplets
    model VARCHAR NOT NULL,
    cache_key VARCHAR NOT NULL,
    prompt_tokens INTEGER NOT NULL,  -- 0 when answered from the cache
    completion_tokens INTEGER NOT NULL,
    cost DOUBLE NOT NULL,            -- estimated USD, 0 for unknown and local models
    cached BOOLEAN NOT NULL,
    status VARCHAR NOT NULL,         -- ok | invalid (output failed validation) | error (no answer)
    reason VARCHAR,                  -- <kind>: <detail> for invalid and error
    final BOOLEAN NOT NULL,          -- false for an invalid answer that a repair request followed
    attempts INTEGER NOT NULL,       -- HTTP requests sent, retries included
    seconds DOUBLE NOT NULL,
    called_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS tombstones (
    doc_id VARCHAR PRIMARY KEY,      -- deleted with `fieldmap delete`; ingest skips it from then on
    deleted_at TIMESTAMP DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS gists (
    doc_id VARCHAR PRIMARY KEY,      -- MemoRAG's memory: one gist per document
    gist VARCHAR NOT NULL,
    method VARCHAR NOT NULL          -- offline | llm:<model>
);
CREATE TABLE IF NOT EXISTS gist_clusters (
    doc_id VARCHAR PRIMARY KEY,      -- the corpus memory: gists grouped by topic
    cluster INTEGER NOT NULL
);
-- the page of every sentence, chunk, mention and triplet of a paged document (no row for unpaged
-- ones): a sentence's page is the page its first character is on; a chunk spans first..last page
CREATE VIEW IF NOT EXISTS sentence_pages AS
    SELECT s.doc_id, s.sent_index, p.page
    FROM sentences s JOIN pages p ON p.doc_id = s.doc_id AND s.start_char >= p.start_char AND s.start_char < p.end_char;
CREATE VIEW IF NOT EXISTS chunk_pages AS
    SELECT c.chunk_id, c.doc_id, min(p.page) AS first_page, max(p.page) AS last_page
    FROM chunks c JOIN pages p ON p.doc_id = c.doc_id AND p.start_char < c.end_char AND p.end_char > c.start_char
    GROUP BY c.chunk_id, c.doc_id;
CREATE VIEW IF NOT EXISTS mention_pages AS
    SELECT m.mention_id, m.doc_id, p.page
    FROM mentions m JOIN pages p ON p.doc_id = m.doc_id AND m.start_char >= p.start_char AND m.start_char < p.end_char;
CREATE VIEW IF NOT EXISTS triplet_pages AS
    SELECT t.triplet_id, t.doc_id, t.chunk_id, t.sent_index, sp.page
    FROM triplets t JOIN sentence_pages sp ON sp.doc_id = t.doc_id AND sp.sent_index = t.sent_index;
-- what produced each row-set (chunking settings; extractor, schema, prompt and model; ...): a row
-- whose fingerprint differs from the configured one is stale and is redone by the next run.
-- NULL: written before fingerprints were recorded; the next run adopts the configured one.
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
ALTER TABLE structures ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
ALTER TABLE extractions ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
ALTER TABLE gists ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
