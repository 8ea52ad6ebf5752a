"""The surfaces over the stages: the command line, the notebook API, the HTTP and MCP servers."""
