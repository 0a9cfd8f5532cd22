"""The Matrix transport (matrix-nio), with end-to-end encryption.

matrix-nio is the `matrix` extra: nothing here imports it until a Matrix transport is built
(`plugin.MatrixPlugin.build`), so the plug-in loads, and an IRC-only bot runs, without it.
Import `bot.transports.matrix.transport` for `MatrixTransport`."""
