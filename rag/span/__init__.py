"""The neural span reader: MiniLM-L6 with a start/end head, trained here on SQuAD v1.1 (rag.span.train),
shipped as one int8 file (rag/data/span-reader.pt), read over retrieved passages (rag.span.reader)."""
