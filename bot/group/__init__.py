"""Team diagnosis sessions in group chats: votes, aggregation, disagreement."""
