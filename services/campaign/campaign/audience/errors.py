from crm_common.errors import NotFound


class AudienceMemberNotFound(NotFound):
    type = "audience-member-not-found"
    title = "Audience member not found"
