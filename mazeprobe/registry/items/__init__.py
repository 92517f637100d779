"""The registry's items: questions, forecasts and the subject as read from a predictions directory
(`load`, `yamlcheck`, `subject`), resolution files read for their form (`resolutions`), edits
(`edit`), the hash-chained lock and git's history of it (`lock`, `history`), and what the lock vouches
for (`trust`). A question names a rule, so these modules import the rule catalogue (`registry.rules`)
and nothing above it."""
