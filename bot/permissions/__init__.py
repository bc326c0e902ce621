"""Who holds which role (roles) and what each role may do (authz): the one policy
handlers and the domain both ask."""
