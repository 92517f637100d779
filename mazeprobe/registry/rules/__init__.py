"""The rule catalogue: the `Rule` record and the version of the rules' meaning (`base`), the rules that
read a fitted plan and `RULE_REGISTRY` (`fitted`), the rules that read a run's intervention tables, a
probe plan or a training record (`editing`), and how a quantity of a fit is read and identified
(`quantities`). Questions name these rules, so the catalogue sits below the items: it imports no other
part of the registry."""
