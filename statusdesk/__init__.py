"""`python -m statusdesk`: the same as the `statusdesk` script (DESIGN §1.9). The code lives
in `bot`, `commands` and `storage`; this package only gives the command its module name."""
