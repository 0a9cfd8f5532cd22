"""The built-in paging providers: one small class each, behind
`bot.paging.delivery.PagingProvider`, declaring its own `CONFIG_SCHEMA` and found through the
`statusdesk.paging_providers` entry points in pyproject.toml (`bot.paging.plugin`)."""
