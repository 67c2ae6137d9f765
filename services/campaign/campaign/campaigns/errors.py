from crm_common.errors import Conflict, NotFound, ValidationFailed


class CampaignNotFound(NotFound):
    type, title = "campaign-not-found", "Campaign not found"


class CampaignNotEditable(Conflict):
    type, title = "campaign-not-editable", "Only a draft campaign can be changed or deleted"


class CampaignStateConflict(Conflict):
    type, title = "campaign-state-conflict", "The campaign is not in a state that allows this"


class CampaignInvalid(ValidationFailed):
    """The launch checks found problems; ``errors`` names each one's place in the definition."""

    type, title = "campaign-invalid", "The campaign cannot be launched as defined"
