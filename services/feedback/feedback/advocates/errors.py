from crm_common.errors import NotFound


class AdvocateScoreNotFound(NotFound):
    type, title = "advocate-score-not-found", "No advocate score yet"
