"""Operating without chat (DESIGN §1.8): personal tokens, the command API, `statusdesk say`."""
