"""Components (DESIGN §1.6): the page's grid, set from chat and held by incidents."""
