"""The providers that carry a page: one small class each, behind
`bot.paging.delivery.PagingProvider`."""
