from crm_common.errors import Conflict


class VotingClosed(Conflict):
    type, title = "voting-closed", "Voting on this idea has closed"


class VoteBudgetExhausted(Conflict):
    type, title = "vote-budget-exhausted", "No votes left on this board"
