"""Resolving: the designs that date evidence (`designs`), where a rule's evidence is found and shown
(`evidence`), proving an automatic resolution against its run (`proof`), `mazeprobe resolve`
(`resolve`) and the outcomes a change of the rules' meaning changed (`changes`)."""
